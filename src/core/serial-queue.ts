// One thing at a time: tasks run in call order, each after the previous one settled, and a
// failed task does not stop the next. The agent serialises capacity-changing requests with it
// (two cannot take the same last free megabytes), the host network its transactions and taps.

export type SerialQueue = <T>(task: () => Promise<T>) => Promise<T>;

export function serialQueue(): SerialQueue {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(task: () => Promise<T>): Promise<T> => {
    const result = tail.then(task, task);
    tail = result.catch(() => undefined);
    return result;
  };
}
