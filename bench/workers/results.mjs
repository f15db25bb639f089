// A result of `bytes` bytes, returned as a copy or moved with `move()`: the difference is the copy.
import { move } from 'threadgate/worker';

export function filled(bytes, moved) {
  const out = new Uint8Array(bytes).fill(1);
  return moved ? move(out) : out;
}
