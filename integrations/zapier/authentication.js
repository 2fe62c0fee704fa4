// The account a course owner connects: the sidecar's address and an API key
// made on its "API keys" page with the scope `hooks`.
const baseUrl = (bundle) => String(bundle.authData.base_url || '').replace(/\/+$/, '');

module.exports = {
  type: 'custom',
  fields: [
    {
      key: 'base_url',
      label: 'Sidecar address',
      required: true,
      type: 'string',
      helpText: 'Where your LMS webhooks sidecar answers, e.g. `https://webhooks.school.example`.',
    },
    {
      key: 'api_key',
      label: 'API key',
      required: true,
      type: 'password',
      helpText:
        "Make one on the sidecar's **API keys** page with the scope **hooks**: it can only manage its own Zaps' subscriptions.",
    },
  ],
  // Zapier calls this to check the connection: GET /api/me answers with the key's name and scope.
  test: async (z, bundle) => {
    const response = await z.request({ url: `${baseUrl(bundle)}/api/me` });
    return response.data;
  },
  connectionLabel: '{{name}}',
  baseUrl,
};
