// Loaded into the server child with `--import` when CWA_BENCH_ALLOC_DIR is set (bench/profile.ts
// --alloc): V8's sampling heap profiler, keeping the samples of objects the young and old
// generation collectors have already freed, so the profile tells where memory is allocated
// (what makes scavenges), not only what stays. Written as a .heapprofile when the child exits.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.CWA_BENCH_ALLOC_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('HeapProfiler.enable');
  session.post('HeapProfiler.startSampling', {
    samplingInterval: Number(process.env.CWA_BENCH_ALLOC_INTERVAL ?? 16384),
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  // The inspector session of the same thread answers synchronously, so this runs to the end inside 'exit'.
  process.on('exit', () => {
    session.post('HeapProfiler.stopSampling', (err, result) => {
      if (!err) writeFileSync(join(dir, `alloc-${process.pid}.heapprofile`), JSON.stringify(result.profile));
    });
  });
}
