// A real OAuth 2.1 authorization server for gloo-mcp's tests: oidc-provider, an
// OpenID-certified implementation, on 127.0.0.1.
//
//   node provider.mjs [PORT]          (PORT, or the PORT variable; 0 or absent: any free port)
//
// When it is ready it prints one JSON line on stdout, {"issuer": "http://127.0.0.1:N"}, and
// nothing else there (oidc-provider's notices go to stderr). It stops when stdin closes, so
// it never outlives the test process that started it.
//
// Clients, all confidential (client_secret_basic, secret "<client_id>-secret"), grant type
// client_credentials only. A token request names the resource it is for (RFC 8707
// `resource`) and gets a JWT access token whose `aud` is that resource, carrying whatever
// scopes it asked for; its `sub` is the client id, so each client is one "user".
//
//   alice, bob   ordinary tokens (RS256)
//   carol        tokens signed with the EC key (ES256)
//   stale        tokens that expired an hour ago
//   early        tokens not valid for another hour (`nbf`)
//   skewed       tokens not valid for another 10 seconds (within a verifier's leeway)
//   foreign      tokens naming another issuer (`iss`), signed with this issuer's key
//   shared       tokens whose `aud` is a list: another resource, then the requested one
//
// The claim changes above go through oidc-provider's own `formats.customizers.jwt` hook,
// before the provider signs the token: the signatures are real.
//
// Test controls, under /__test/ on the same port (loopback only, for the tests):
//   POST /__test/rotate           a new RSA signing key, current from now on; the old ones stay
//                                 published. Answers {"kid": "<new kid>"}.
//   POST /__test/rotate?retire=1  the same, and the old RSA keys leave the JWKS.
//   GET  /__test/stats            {"jwks": n, "metadata": n}: requests for the key set and for
//                                 discovery documents served so far.
import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider from 'oidc-provider';

console.info = console.error; // keep stdout for the one ready line

const HOUR = 3600;
const CLIENT_IDS = ['alice', 'bob', 'carol', 'stale', 'early', 'skewed', 'foreign', 'shared'];

const adjust = {
  stale: (p) => Object.assign(p, { iat: p.iat - 2 * HOUR, exp: p.iat - HOUR }),
  early: (p) => Object.assign(p, { nbf: p.iat + HOUR }),
  skewed: (p) => Object.assign(p, { nbf: p.iat + 10 }),
  foreign: (p) => Object.assign(p, { iss: 'https://issuer.invalid' }),
  shared: (p) => Object.assign(p, { aud: ['https://other-resource.invalid/api', p.aud] }),
};

let rsaSerial = 0;
function newRsaKey() {
  rsaSerial += 1;
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: `rsa-${rsaSerial}`, use: 'sig' };
}

function newEcKey() {
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), kid: 'ec-1', use: 'sig' };
}

function buildProvider(issuer, keys) {
  return new Provider(issuer, {
    clients: CLIENT_IDS.map((id) => ({
      client_id: id,
      client_secret: `${id}-secret`,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    jwks: { keys },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource, client) => ({
          scope: ctx.oidc.params.scope ?? '', // grant whatever the test asks for
          audience: resource,
          accessTokenFormat: 'jwt',
          accessTokenTTL: 600,
          jwt: { sign: { alg: client.clientId === 'carol' ? 'ES256' : 'RS256' } },
        }),
      },
    },
    formats: {
      customizers: {
        jwt: (ctx, token, jwt) => {
          adjust[token.clientId]?.(jwt.payload);
        },
      },
    },
  });
}

const counts = { jwks: 0, metadata: 0 };
let keys = [newRsaKey(), newEcKey()];
let handle; // the provider's request handler, rebuilt on rotation: oidc-provider reads its keys once
let issuer;

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function testControl(req, res, url) {
  if (req.method === 'POST' && url.pathname === '/__test/rotate') {
    const fresh = newRsaKey();
    const kept = url.searchParams.get('retire') ? keys.filter((k) => k.kty !== 'RSA') : keys;
    keys = [fresh, ...kept]; // the first RSA key signs RS256 tokens
    handle = buildProvider(issuer, keys).callback();
    json(res, 200, { kid: fresh.kid });
  } else if (req.method === 'GET' && url.pathname === '/__test/stats') {
    json(res, 200, counts);
  } else {
    json(res, 404, { error: 'unknown test control' });
  }
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, issuer);
  if (url.pathname.startsWith('/__test/')) {
    testControl(req, res, url);
    return;
  }
  if (url.pathname === '/jwks') counts.jwks += 1;
  if (url.pathname.startsWith('/.well-known/')) counts.metadata += 1;
  handle(req, res);
});

const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
server.listen(port, '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  handle = buildProvider(issuer, keys).callback();
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
