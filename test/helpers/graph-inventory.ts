import type { Inventory } from '../../src/domain/types.js';

/** `names` names of 4 targets in 4 AZs; `services` services resolving 20 names each and calling the previous one. */
export function largeInventory(names: number, services: number, zone = 'dnsplane.test'): Inventory {
  return {
    endpoints: Array.from({ length: names }, (_, n) => ({
      name: `svc${n}.${zone}`,
      targets: Array.from({ length: 4 }, (__, t) => ({
        id: `t${n}-${t}`, address: `10.${t}.${n >> 8 & 255}.${n & 255}`, az: `az${t + 1}`, capacity: 100,
        check: { http: `http://10.${t}.${n >> 8 & 255}.${n & 255}/healthz` },
      })),
    })),
    services: Array.from({ length: services }, (_, s) => ({
      id: `s${s}`, criticality: 'high' as const, services: s === 0 ? [] : [`s${s - 1}`],
      names: Array.from({ length: 20 }, (__, k) => `svc${(s * 37 + k) % names}.${zone}`),
    })),
  };
}

