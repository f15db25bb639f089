// The soak run's worker module: plain JavaScript, so a replacement worker starts fast.
export function ok(i) {
  return i;
}

export function fail(i) {
  throw new Error(`planned failure ${i}`);
}

export function exit(code) {
  process.exit(code);
}

export function spin() {
  for (;;) {
    // only the pool's timeout ends this
  }
}

export function square(n) {
  return n * n;
}
