import { isIP } from 'node:net';

const labelPattern = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/** Lower-cases and strips one trailing dot. */
export function normalizeName(name: string): string {
  const lower = name.trim().toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** Returns an error message, or null when `name` is a valid DNS name. */
export function checkDnsName(name: string): string | null {
  const normalized = normalizeName(name);
  if (normalized.length === 0) return 'is empty';
  if (normalized.length > 253) return `is ${normalized.length} characters long (at most 253)`;
  for (const label of normalized.split('.')) {
    if (!labelPattern.test(label)) {
      return `has an invalid label "${label}" `
        + '(letters, digits, "-" and "_", 1-63 characters, not starting or ending with "-")';
    }
  }
  return null;
}

/** Qualifies a configured endpoint name with the zone unless it already ends in it. */
export function qualifyName(name: string, zone: string): string {
  const normalizedName = normalizeName(name);
  const normalizedZone = normalizeName(zone);
  if (normalizedName === normalizedZone || normalizedName.endsWith(`.${normalizedZone}`)) return normalizedName;
  return `${normalizedName}.${normalizedZone}`;
}

export function isInZone(name: string, zone: string): boolean {
  const normalizedName = normalizeName(name);
  const normalizedZone = normalizeName(zone);
  return normalizedName === normalizedZone || normalizedName.endsWith(`.${normalizedZone}`);
}

/** 4 or 6 for a valid address, 0 otherwise. */
export function addressFamily(address: string): 0 | 4 | 6 {
  return isIP(address) as 0 | 4 | 6;
}
