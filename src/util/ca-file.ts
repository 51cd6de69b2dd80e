import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import { assert } from './assert.js';

/** Distinct CA files kept parsed; a config names a handful, so the bound only guards against a leak. */
const caFilesCachedMax = 64;


const secureContexts = new Map<string, SecureContext>();

/**
 * The TLS context trusting only the CAs of the PEM file at `path`, or why
 * there is none. The file is read and parsed once per process and path
 * (config load and every later probe share it); a failure is not kept, so a
 * file that appears later is picked up. A CA file replaced on disk is read
 * again only after a restart.
 */
export function caSecureContext(path: string): SecureContext | string {
  const key = resolvePath(path);
  const cached = secureContexts.get(key);
  if (cached !== undefined) return cached;
  let pem: string;
  try {
    pem = readFileSync(key, 'utf8');
  } catch (error) {
    return `cannot read CA file "${path}" (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) return `CA file "${path}" holds no PEM certificate`;
  let context: SecureContext;
  try {
    context = createSecureContext({ ca: pem });
  } catch (error) {
    return `CA file "${path}" is not valid PEM: ${(error as Error).message}`;
  }
  if (secureContexts.size >= caFilesCachedMax) secureContexts.delete(secureContexts.keys().next().value!);
  secureContexts.set(key, context);
  assert(secureContexts.size <= caFilesCachedMax, 'internal', 'the CA cache stays bounded');
  return context;
}
