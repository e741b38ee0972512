/**
 * pgapp benchmarks. Each prints its numbers and a ratio against a baseline measured in the same run
 * (these machines are noisy: only ratios mean anything), then BENCHMARKS.md is rewritten.
 *
 *   npm run bench                 all of them
 *   npm run bench -- http memory  some of them (memory, warm, cold, pushdown, fetch, http, gateway, latency, cache, snapshot, seed, app, schema, reads, custom, trips)
 *
 * This file is the runner: which cases run, in what order. The cases are in bench/cases/, what they
 * share (load, timing, the CLI as a user runs it) in bench/lib.ts, the report in bench/report.ts.
 * They run on a stack of their own (project pgapp_bench, 100k contacts), created on first use and
 * reused after. Load goes to 127.0.0.1 only, bounded in time and connections.
 */
import { dataPgMajor } from '../src/docker/containers.ts';
import { type TestStack, useStack } from '../src/testing/index.ts';
import { benchAppPage, benchCache } from './cases/app.ts';
import { benchFetchSize, benchPushdown } from './cases/bridge.ts';
import { benchCustom } from './cases/custom.ts';
import { benchGateway } from './cases/gateway.ts';
import { benchHttp } from './cases/http.ts';
import { benchLatency } from './cases/latency.ts';
import { benchCold, benchSnapshot, benchWarm } from './cases/lifecycle.ts';
import { benchMemory } from './cases/memory.ts';
import { benchReads } from './cases/reads.ts';
import { benchSchema } from './cases/schema.ts';
import { benchSeed } from './cases/seed.ts';
import { benchTrips } from './cases/trips.ts';
import { CONTACTS, PROJECT, SECONDS } from './lib.ts';
import { writeBenchmarks } from './report.ts';

const ALL = {
  memory: benchMemory,
  warm: benchWarm,
  cold: benchCold,
  pushdown: benchPushdown,
  fetch: benchFetchSize,
  http: benchHttp,
  gateway: benchGateway,
  latency: benchLatency,
  cache: benchCache,
  snapshot: benchSnapshot,
  seed: benchSeed,
  app: benchAppPage,
  schema: benchSchema,
  reads: benchReads,
  custom: benchCustom,
  trips: benchTrips,
} as const;

async function main() {
  const wanted = process.argv.slice(2).filter((a) => a in ALL) as (keyof typeof ALL)[];
  const names = wanted.length ? wanted : (Object.keys(ALL) as (keyof typeof ALL)[]);
  console.log(
    `pgapp benchmarks on project ${PROJECT} (${CONTACTS.toLocaleString('en')} contacts): ${names.join(', ')}\n`,
  );
  // The CRM's bench stack, made (or reused) when a case needs it: `schema`, `reads` and `trips` bring up their own.
  let stack: TestStack | undefined;
  for (const n of names) {
    if (n === 'schema' || n === 'reads' || n === 'trips') await ALL[n]();
    else {
      stack ??= await useStack({ project: PROJECT, seed: 'medium' });
      await ALL[n](stack);
    }
    await new Promise((r) => setTimeout(r, 5000)); // let autovacuum, checkpoints and Docker settle
  }
  await writeBenchmarks(names, { PROJECT, CONTACTS, SECONDS, postgres: await dataPgMajor(PROJECT) });
  console.log('\nwrote BENCHMARKS.md');
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
