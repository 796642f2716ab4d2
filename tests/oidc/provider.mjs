// A real OpenID Provider for the SSO tests: the certified `oidc-provider` package (installed
// by bin/test-tools), with three registered clients and a directory of test users.
//
//   node tests/oidc/provider.mjs PORT REDIRECT_URI
//
// Sign-in is the provider's own interaction, finished by a page of ours instead of a login
// form: GET /interaction/<uid>?user=alice&groups=sec-admins,sec-view&amr=pwd,otp logs alice
// in with those groups and those authentication methods. Codes, tokens and their signatures
// are the provider's own. It prints "ready" once it listens.
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [port, redirectUri] = process.argv.slice(2);
const here = path.dirname(new URL(import.meta.url).pathname);
const modulePath = path.resolve(
  here, '..', '..', '.cache', 'test-tools', 'node_modules', 'oidc-provider', 'lib', 'index.js',
);
const { default: Provider } = await import(pathToFileURL(modulePath).href);

const issuer = `http://127.0.0.1:${port}`;
const directory = new Map(); // accountId -> {email, groups}

function client(id) {
  return {
    client_id: id,
    client_secret: `${id}-secret-for-tests-only`,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  };
}

const provider = new Provider(issuer, {
  clients: [client('meldpunt'), client('other-app'), client('stale-app')],
  // stale-app's ID tokens expired five minutes before they are issued: a provider whose
  // clock runs far behind, seen from the desk.
  ttl: { IdToken: (ctx, token, client) => (client.clientId === 'stale-app' ? -300 : 3600) },
  pkce: { required: () => true, methods: ['S256'] },
  scopes: ['openid', 'email', 'groups'],
  // amr with the openid scope: how the user signed in goes into every ID token, as Keycloak,
  // Entra ID and others do.
  claims: { openid: ['sub', 'amr'], email: ['email', 'email_verified'], groups: ['groups'] },
  // The claims of the scopes go into the ID token, as Keycloak and Entra ID do for groups.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ['tests-only-cookie-key'] },
  async findAccount(ctx, accountId) {
    const entry = directory.get(accountId);
    if (!entry) return undefined;
    return {
      accountId,
      async claims() {
        return { sub: accountId, email: entry.email, email_verified: true, groups: entry.groups };
      },
    };
  },
  async loadExistingGrant(ctx) {
    // First-party client: the consent is the organisation's, so every request is granted.
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(ctx.oidc.params.scope);
    await grant.save();
    return grant;
  },
});
provider.proxy = false;

async function interaction(req, res, url) {
  const details = await provider.interactionDetails(req, res);
  const user = url.searchParams.get('user');
  if (details.prompt.name !== 'login' || !user) {
    res.writeHead(400).end('unexpected interaction');
    return;
  }
  const list = (name) => (url.searchParams.get(name) || '').split(',').filter(Boolean);
  directory.set(user, { email: `${user}@example.org`, groups: list('groups') });
  const amr = list('amr');
  const login = { accountId: user, amr: amr.length ? amr : ['pwd'] };
  await provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
}

const callback = provider.callback();
http
  .createServer((req, res) => {
    const url = new URL(req.url, issuer);
    if (url.pathname.startsWith('/interaction/')) {
      interaction(req, res, url).catch((error) => {
        res.writeHead(500).end(String(error));
      });
      return;
    }
    callback(req, res);
  })
  .listen(Number(port), '127.0.0.1', () => {
    process.stdout.write('ready\n');
  });
