import { Route53Provider, type Route53Settings } from '../../../src/providers/route53/provider.js';
import type { OwnerIdentity } from '../../../src/store/types.js';
import { Route53Emulator, type EmulatorOptions } from './emulator.js';

/** Credentials the emulator accepts (it checks that requests are signed, not by whom). */
export const emulatorCredentials = { accessKeyId: 'AKIDEMULATOR', secretAccessKey: 'emulator-secret' };

/** The owner id of the providers the tests open, unless they give another. */
export const emulatorOwner: OwnerIdentity = { owner: 'dnsplane-test', former: [] };

/** Settings of a provider on the emulator: fast polls, no pacing, AWS's other limits, the test's owner id. */
export function emulatorSettings(
  endpoint: string, hostedZoneId: string, extra: Partial<Route53Settings> = {},
): Route53Settings {
  return {
    hostedZoneId, zone: 'dnsplane.test', endpoint, region: 'us-east-1', credentials: emulatorCredentials, ttl: 5,
    timeoutMs: 10_000, requestsPerSecond: 10_000, retriesMax: 10, backoffBaseMs: 1, backoffMaxMs: 20,
    syncTimeoutMs: 60_000, syncPollMs: 5, readRequestsMax: 10_000, owner: emulatorOwner, ...extra,
  };
}

export interface EmulatedZone {
  emulator: Route53Emulator;
  endpoint: string;
  hostedZoneId: string;
  open(extra?: Partial<Route53Settings>): Route53Provider;
  stop(): Promise<void>;
}

/** An emulator with the zone dnsplane.test., and providers on it (each closed at stop). */
export async function startEmulatedZone(options: EmulatorOptions = {}): Promise<EmulatedZone> {
  const emulator = new Route53Emulator({ zones: ['dnsplane.test.'], ...options });
  const endpoint = await emulator.start();
  const hostedZoneId = emulator.zoneIds[0]!;
  const opened: Route53Provider[] = [];
  return {
    emulator, endpoint, hostedZoneId,
    open(extra = {}) {
      const provider = new Route53Provider(emulatorSettings(endpoint, hostedZoneId, extra));
      opened.push(provider);
      return provider;
    },
    async stop() {
      for (const provider of opened) await provider.close();
      await emulator.stop();
    },
  };
}

/** The provider section of a role process's config: the emulator, no pacing, quick GetChange polls. */
export function route53Section(zone: EmulatedZone, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    kind: 'route53', hostedZoneId: zone.hostedZoneId, endpoint: zone.endpoint, region: 'us-east-1',
    requestsPerSecond: 10_000, syncPollInterval: '5ms', retriesMax: 20, ...extra,
  };
}

/**
 * Role processes started from here find credentials where the SDK's standard chain looks first: the environment
 * they inherit (this test process's, which no other test shares).
 */
export function shareCredentialsWithChildren(): void {
  process.env.AWS_ACCESS_KEY_ID = emulatorCredentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = emulatorCredentials.secretAccessKey;
}
