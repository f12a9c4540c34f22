// A real OpenID Provider (panva's oidc-provider, OpenID Certified) on loopback, for the tests.
//
//   node provider.mjs CONFIG.json
//
// CONFIG (written by tests/oidc_provider_harness.py):
//   issuer     "http://127.0.0.1:PORT" (no trailing slash), or null: derived from the bound port
//   port       TCP port on 127.0.0.1; 0 picks a free one
//   jwks       {"keys": [...]} private RSA JWKs with `kid`: signs ID tokens and JWT access tokens
//   cookie_keys  list of secrets that sign the provider's cookies
//   clients    oidc-provider client metadata (snake_case), plus `first_party: true` to skip consent
//   accounts   {sub: {name, preferred_username, email, groups: [...]}}
//   accounts_file  optional: a JSON file of the same shape, read again at every account lookup
//              (the tests change an account's groups between two sign-ins without a restart)
//   resource   the audience of access tokens, e.g. "pmsc-api"
//   resource_indicator  the RFC 8707 `resource` value that asks for them (an absolute URI);
//              also the default resource, so every access token is a JWT for `resource`
//              (its `scope` is empty unless the client also asked for the scope `api`)
//   exit_with_parent  exit when standard input closes (the Python side holds a pipe open)
//
// Prints `READY <issuer>` on stdout once listening, then `REQUEST <METHOD> <path?query>` for every
// request it receives (the tests count JWKS fetches with it); errors go to stderr; SIGTERM/SIGINT or the
// end of standard input close the server and exit 0.

import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import process from 'node:process';

import Provider from 'oidc-provider';

const configPath = process.argv[2];
if (!configPath) {
  console.error('usage: node provider.mjs CONFIG.json');
  process.exit(2);
}

const config = JSON.parse(readFileSync(configPath, 'utf8'));
const accounts = config.accounts ?? {};
const audience = config.resource ?? 'pmsc-api';
const indicator = config.resource_indicator ?? audience;
const firstParty = new Set(
  (config.clients ?? []).filter((c) => c.first_party).map((c) => c.client_id),
);
const clients = (config.clients ?? []).map(({ first_party: _ignored, ...metadata }) => metadata);

function currentAccounts() {
  if (!config.accounts_file) return accounts;
  try {
    return JSON.parse(readFileSync(config.accounts_file, 'utf8'));
  } catch (error) {
    console.error(`oidc provider: cannot read ${config.accounts_file}: ${error.message}`);
    return accounts;
  }
}

function accountClaims(sub) {
  const known = currentAccounts()[sub];
  if (!known) return { sub };
  return { ...known, sub };
}

const TEN_MINUTES = 10 * 60;
const ONE_HOUR = 60 * 60;

function configuration() {
  return {
    jwks: config.jwks,
    clients,
    cookies: {
      keys: config.cookie_keys,
      // over plain http on 127.0.0.1 the cookies are not `Secure` (ctx.secure is false), which
      // is what a browser (and a requests.Session) needs to send them back
    },
    pkce: { required: () => true }, // and oidc-provider 9 only knows S256
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    // the scope claims go into the ID token too, not only to the userinfo endpoint
    conformIdTokenClaims: false,
    async findAccount(_ctx, sub) {
      return {
        accountId: sub,
        async claims() {
          return accountClaims(sub);
        },
      };
    },
    async loadExistingGrant(ctx) {
      const { oidc } = ctx;
      const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
      if (grantId) {
        return oidc.provider.Grant.find(grantId);
      }
      if (!firstParty.has(oidc.client.clientId)) {
        return undefined; // the consent page, once; the grant is then remembered in the session
      }
      const grant = new oidc.provider.Grant({
        clientId: oidc.client.clientId,
        accountId: oidc.session.accountId,
      });
      grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
      if (oidc.requestParamClaims.size) grant.addOIDCClaims([...oidc.requestParamClaims]);
      for (const [resource, server] of Object.entries(oidc.resourceServers)) {
        grant.addResourceScope(resource, server.scope);
      }
      await grant.save();
      return grant;
    },
    async extraTokenClaims(_ctx, token) {
      if (token.kind !== 'AccessToken' || !token.accountId) return undefined;
      const claims = accountClaims(token.accountId);
      return Object.fromEntries(
        Object.entries({
          groups: claims.groups ?? [],
          name: claims.name,
          preferred_username: claims.preferred_username,
        }).filter(([, value]) => value !== undefined),
      );
    },
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      userinfo: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // no `resource` in the authorization request: this one all the same
        async defaultResource(_ctx, _client, oneOf) {
          return oneOf ?? indicator;
        },
        // the token endpoint uses the resource granted at authorization even with `openid`
        async useGrantedResource() {
          return true;
        },
        async getResourceServerInfo(_ctx, resource) {
          if (resource !== indicator) {
            throw new Provider.errors.InvalidTarget(`unknown resource indicator ${resource}`);
          }
          return {
            scope: 'api',
            audience,
            accessTokenFormat: 'jwt',
            accessTokenTTL: TEN_MINUTES,
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? TEN_MINUTES,
      AuthorizationCode: 60,
      ClientCredentials: TEN_MINUTES,
      DeviceCode: TEN_MINUTES,
      BackchannelAuthenticationRequest: TEN_MINUTES,
      PreAuthorizedCode: TEN_MINUTES,
      IdToken: ONE_HOUR,
      Interaction: ONE_HOUR,
      RefreshToken: ONE_HOUR,
      Session: ONE_HOUR,
      Grant: ONE_HOUR,
    },
    async renderError(ctx, out, error) {
      console.error(`error page: ${out.error}: ${out.error_description ?? ''}`, error?.stack ?? '');
      ctx.type = 'html';
      ctx.body = `<!DOCTYPE html><html><head><title>oops! something went wrong</title></head>`
        + `<body><h1>oops! something went wrong</h1><pre>${JSON.stringify(out)
          .replace(/</g, '\\u003c')}</pre></body></html>`;
    },
  };
}

let handle;
const server = createServer((req, res) => {
  process.stdout.write(`REQUEST ${req.method} ${req.url}\n`);
  if (!handle) {
    res.statusCode = 503;
    res.end('starting');
    return;
  }
  handle(req, res);
});

let closing = false;
function shutdown(signal) {
  if (closing) return;
  closing = true;
  console.error(`oidc provider: ${signal}, closing`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
if (config.exit_with_parent) {
  process.stdin.on('end', () => shutdown('standard input closed'));
  process.stdin.on('error', () => shutdown('standard input error'));
  process.stdin.resume();
}

server.on('error', (error) => {
  console.error(`oidc provider: cannot listen on 127.0.0.1:${config.port}: ${error.message}`);
  process.exit(1);
});

server.listen(config.port ?? 0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = config.issuer || `http://127.0.0.1:${port}`;
  let provider;
  try {
    provider = new Provider(issuer, configuration());
  } catch (error) {
    console.error('oidc provider: bad configuration:', error?.stack ?? error);
    process.exit(1);
  }
  provider.on('server_error', (_ctx, error) => console.error('server_error', error?.stack ?? error));
  for (const event of ['authorization.error', 'grant.error', 'end_session.error',
    'userinfo.error', 'discovery.error', 'jwks.error', 'introspection.error']) {
    provider.on(event, (_ctx, error) => console.error(event, error?.name, error?.message,
      error?.error_description ?? ''));
  }
  handle = provider.callback();
  process.stdout.write(`READY ${issuer}\n`);
});
