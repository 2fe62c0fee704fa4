/**
 * What this package exports for Node receivers and embedders.
 */
export { simpleSignatureHex, standardSignature, generateSecret } from './delivery/sign.js';
export { startSidecar } from './sidecar.js';
export { loadConfig } from './config.js';
