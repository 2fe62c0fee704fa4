/**
 * What this package exports for Node receivers and embedders.
 */
export { verifyWebhook, WebhookVerificationError, type Envelope, type VerifyOptions } from './verify.js';
export { simpleSignatureHex, standardSignature, generateSecret } from './delivery/sign.js';
export { startSidecar } from './sidecar.js';
export { loadConfig } from './config.js';
