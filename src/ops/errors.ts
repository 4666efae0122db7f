// The two failures an ops command reports as one line: a problem (exit 1) and something held by another process (exit 2).

/** A problem an ops command reports as one line (`clientcove: ...`) and exit code 1. */
export class OpsError extends Error {
  override name = "OpsError";
}

/** Another process holds what this command needs (the port, the data dir): one line (`clientcove: ...`) and exit code 2. */
export class InUseError extends Error {
  override name = "InUseError";
}
