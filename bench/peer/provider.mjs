// node oidc-provider as the peer inkan is measured against: in-memory
// storage, JWT access tokens signed with the same algorithm inkan uses,
// client credentials, and refresh tokens rotated on every use. Started by
// bench.mjs; prints its port on stdout once it listens.
import { createServer } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const alg = process.env.PEER_ALG ?? 'EdDSA';
const resource = 'urn:inkan-bench:api';

function signingKey() {
  const pair = alg === 'EdDSA'
    ? generateKeyPairSync('ed25519')
    : alg === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...pair.privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid: 'bench' };
}

const provider = new Provider('http://127.0.0.1', {
  jwks: { keys: [signingKey()] },
  clients: [{
    client_id: 'bench',
    client_secret: 'a-benchmark-client-secret-of-some-length',
    grant_types: ['client_credentials', 'refresh_token', 'authorization_code'],
    redirect_uris: ['http://127.0.0.1/cb'],
    response_types: ['code'],
    scope: 'offline_access api',
    id_token_signed_response_alg: alg,
  }],
  scopes: ['offline_access', 'api'],
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api',
        audience: resource,
        accessTokenTTL: 900,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg } },
      }),
    },
  },
  // Rotate on every use, as inkan does.
  rotateRefreshToken: true,
  ttl: { RefreshToken: 30 * 24 * 3600 },
  findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
});
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

// Refresh tokens need a login; the benchmark measures the rotation, not
// the login, so sessions are made directly through the provider's models.
async function seed(count) {
  const client = await provider.Client.find('bench');
  const tokens = [];
  for (let i = 0; i < count; i += 1) {
    const accountId = `bench-${i}`;
    const grant = new provider.Grant({ accountId, clientId: 'bench' });
    grant.addOIDCScope('offline_access');
    grant.addResourceScope(resource, 'api');
    const grantId = await grant.save();
    const rt = new provider.RefreshToken({
      accountId, client, grantId, gty: 'authorization_code', scope: 'offline_access api', resource,
    });
    tokens.push(await rt.save());
  }
  return tokens;
}

const app = provider.callback();
const server = createServer(async (req, res) => {
  if (req.url?.startsWith('/bench/seed?')) {
    const count = Number(new URL(req.url, 'http://x').searchParams.get('count'));
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(await seed(count)));
    return;
  }
  app(req, res);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
