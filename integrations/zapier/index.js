// The Zapier integration of the LMS webhooks sidecar. `zapier push` from
// this folder uploads it (see README "Zapier"). Its tests live in the
// sidecar's suite (test/integrations/zapier.test.ts) and run it with
// zapier-platform-core's own app tester against a real sidecar.
const authentication = require('./authentication');
const lmsEvent = require('./triggers/lmsEvent');

/** Every request carries the connected account's API key. */
const includeApiKey = (request, z, bundle) => {
  if (bundle.authData.api_key) request.headers.Authorization = `Bearer ${bundle.authData.api_key}`;
  return request;
};

module.exports = {
  version: require('./package.json').version,
  platformVersion: require('zapier-platform-core').version,
  authentication,
  beforeRequest: [includeApiKey],
  triggers: { [lmsEvent.key]: lmsEvent },
  // Every request goes through z.request, which Zapier logs itself; its patch of Node's http module (for logging
  // other clients) is not needed, and would reach into any server sharing the process, as in the sidecar's tests.
  flags: { skipHttpPatch: true },
};
