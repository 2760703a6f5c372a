// Ending an ASR worker thread safely. onnxruntime-node aborts the whole process ("terminate called
// after throwing an instance of 'Napi::Error'") when a worker thread is torn down while a session
// run is in flight: the run completes on a native thread and calls back into a dead environment.
// So every run is counted, and a worker that is told to stop ends itself between two runs.

let inFlight = 0;
let exitWhenIdle = false;

interface Runnable<A extends unknown[], R> {
  run(...args: A): Promise<R>;
}

/** Counts the session's runs, so that `stopBetweenRuns` can wait for the one in flight. */
export function countRuns<A extends unknown[], R>(session: Runnable<A, R>): void {
  const run = session.run.bind(session);
  session.run = async (...args: A): Promise<R> => {
    inFlight++;
    try {
      return await run(...args);
    } finally {
      inFlight--;
      if (exitWhenIdle && inFlight === 0) process.exit(0);
    }
  };
}

/** Ends this worker thread now if no run is in flight, else as soon as the current run returns. */
export function stopBetweenRuns(): void {
  if (inFlight === 0) process.exit(0);
  exitWhenIdle = true;
}
