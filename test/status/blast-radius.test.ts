// Goal: alarms are ranked by blast radius (issue 19) — an alarm on a name says how many services depend on it,
// directly or through others (a caller of a service that resolves it; a service resolving a name whose targets'
// checks go through it), and the most critical come first; a zone-wide alarm has every service behind it.
// Method: AlarmRanker on a graph built from a small inventory, as `dnsplane status` and the API use it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointSpec, ServiceSpec } from '../../src/domain/types.js';
import { buildGraph } from '../../src/graph/graph.js';
import { AlarmRanker, alarmLine } from '../../src/status/blast-radius.js';
import type { Alarm } from '../../src/store/types.js';

const zone = 'dnsplane.test';
const endpoint = (label: string, check?: string[]): EndpointSpec => ({
  name: `${label}.${zone}`,
  targets: [{ id: `${label}-1`, address: '192.0.2.1', az: 'az1', capacity: 100,
    ...(check === undefined ? {} : { check: { http: 'http://192.0.2.1/', dependsOn: check } }) }],
});
const endpoints = [endpoint('dynamodb'), endpoint('s3', ['service:nlb-health']), endpoint('quiet')];
const services: ServiceSpec[] = [
  { id: 'dwfm', criticality: 'critical', names: [`dynamodb.${zone}`], services: [] },
  { id: 'ec2-launch', criticality: 'critical', names: [], services: ['dwfm'] },
  { id: 'nlb-health', criticality: 'high', names: [], services: ['ec2-launch'] },
  { id: 'storage-app', criticality: 'medium', names: [`s3.${zone}`], services: [] },
];

function alarm(kind: string, name: string, lastAtMs: number): Alarm {
  return { kind, name, message: 'm', count: 1, raisedAtMs: lastAtMs, lastAtMs, clearedAtMs: null };
}

test('alarms on names rank by the criticality of what depends on them, transitively; ties keep their order', () => {
  const graph = buildGraph({ endpoints, services });
  const listed = [
    alarm('checker-self-doubt', 'c1', 6), alarm('drift', `quiet.${zone}`, 5), alarm('drift', `s3.${zone}`, 4),
    alarm('fail-open', `dynamodb.${zone}`, 3), alarm('capacity-guard', '*', 2),
  ];
  const ranked = new AlarmRanker().rank(listed, graph);
  // dynamodb has every service behind it, as the zone-wide alarm does (a tie: listing order, newest first): the 2025
  // chain dwfm ← ec2-launch ← nlb-health, and through s3's health checks (nlb-health) storage-app too.
  assert.deepEqual(ranked.map((entry) => entry.name), [`dynamodb.${zone}`, '*', `s3.${zone}`, 'c1', `quiet.${zone}`]);
  const dynamodb = ranked[0]!;
  assert.deepEqual(dynamodb.dependents, {
    services: 4, byCriticality: { critical: 2, high: 1, medium: 1, low: 0 },
    top: ['dwfm', 'ec2-launch', 'nlb-health', 'storage-app'],
  });
  assert.equal(dynamodb.blastRadius,
    '4 services depend on it (2 critical, 1 high, 1 medium: dwfm, ec2-launch, nlb-health, storage-app)');
  assert.deepEqual(ranked[2]!.dependents?.top, ['storage-app'], 's3 is resolved by storage-app only');
  assert.equal(ranked[1]!.dependents?.services, 4, 'a zone-wide alarm has every service behind it');
  assert.equal(ranked[3]!.dependents, null, 'a checker is not a node of the graph');
  assert.equal(ranked[4]!.blastRadius, null, 'nothing depends on quiet');
  assert.match(alarmLine(dynamodb), /^ {2}\[fail-open\] dynamodb\.dnsplane\.test: m \(x1\) — 4 services depend on it/);
});

test('a name reached through a health check edge counts the services behind the checked name', () => {
  // A service resolving a name whose target's health check goes through dynamodb depends on dynamodb.
  const checked = [endpoint('dynamodb'), { ...endpoint('web', [`dynamodb.${zone}`]) }];
  const graph = buildGraph({ endpoints: checked, services: [
    { id: 'shop', criticality: 'low', names: [`web.${zone}`], services: [] },
  ] });
  const [ranked] = new AlarmRanker().rank([alarm('drift', `dynamodb.${zone}`, 1)], graph);
  assert.deepEqual(ranked!.dependents?.top, ['shop'], 'shop resolves web, whose target is checked through dynamodb');
});
