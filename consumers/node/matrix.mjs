// Node rows of inkan's compatibility matrix: does each library, configured
// as a service would configure it from inkan's README (keys from the JWKS
// by kid, `iss`, `aud` and `typ` checked), accept a fresh token and refuse
// a wrong-audience one and one signed by a key the JWKS no longer holds?
//
//   node consumers/node/matrix.mjs cases.json
//
// cases.json: [{ "alg", "jwks_url", "issuer", "audience",
//                "tokens": { "fresh", "wrong_audience", "retired_key" } }]
// Prints one tab-separated row per (library, alg, case): the outcome is
// "accepted" or "refused: <the library's message>".

import { readFileSync } from 'node:fs';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import jwt from 'jsonwebtoken';
import jwksRsa from 'jwks-rsa';

// What inkan signs with; a verifier allows exactly these.
const ALGORITHMS = ['ES256', 'EdDSA', 'RS256'];

async function withJose(c, token) {
  const keys = createRemoteJWKSet(new URL(c.jwks_url));
  await jwtVerify(token, keys, {
    issuer: c.issuer,
    audience: c.audience,
    typ: 'at+jwt',
    algorithms: ALGORITHMS,
  });
}

async function withJsonwebtoken(c, token) {
  const client = jwksRsa({ jwksUri: c.jwks_url, cache: false });
  const key = (header, done) =>
    client.getSigningKey(header.kid, (err, signing) => done(err, signing?.getPublicKey()));
  const decoded = await new Promise((resolve, reject) =>
    jwt.verify(
      token,
      key,
      { issuer: c.issuer, audience: c.audience, algorithms: ALGORITHMS, complete: true },
      (err, result) => (err ? reject(err) : resolve(result)),
    ),
  );
  // jsonwebtoken has no typ option: RFC 9068 asks for the check itself.
  if (decoded.header.typ !== 'at+jwt') {
    throw new Error(`typ is ${decoded.header.typ}, not at+jwt`);
  }
}

const LIBRARIES = [
  ['node jose 6', withJose],
  ['node jsonwebtoken 9 + jwks-rsa 4', withJsonwebtoken],
];

const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'));
for (const [library, verify] of LIBRARIES) {
  for (const c of cases) {
    for (const [name, token] of Object.entries(c.tokens)) {
      let outcome = 'accepted';
      try {
        await verify(c, token);
      } catch (err) {
        outcome = `refused: ${String(err.message).split('\n')[0]}`;
      }
      console.log([library, c.alg, name, outcome].join('\t'));
    }
  }
}
