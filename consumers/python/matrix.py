"""Python rows of inkan's compatibility matrix: does each library,
configured as a service would configure it from inkan's README (keys from
the JWKS by kid, ``iss``, ``aud`` and ``typ`` checked), accept a fresh token
and refuse a wrong-audience one and one signed by a key the JWKS no longer
holds? PyJWT's PyJWKClient, and joserfc (authlib's JOSE, now a package of
its own).

    python consumers/python/matrix.py cases.json

cases.json: [{"alg", "jwks_url", "issuer", "audience",
              "tokens": {"fresh", "wrong_audience", "retired_key"}}]
Prints one tab-separated row per (library, alg, case): the outcome is
"accepted" or "refused: <the library's message>".
"""

import json
import sys
import urllib.request
import warnings
from importlib.metadata import version

import jwt
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import KeySet

# What inkan signs with; a verifier allows exactly these.
ALGORITHMS = ["ES256", "EdDSA", "RS256"]

# joserfc warns on every EdDSA token that RFC 9864 deprecates the name
# (for "Ed25519"); it still verifies them, which is what the matrix asks.
warnings.filterwarnings("ignore", message="EdDSA is deprecated")


def require_at_jwt(header):
    # Neither library has a typ option: RFC 9068 asks for the check itself.
    if header.get("typ") != "at+jwt":
        raise ValueError(f"typ is {header.get('typ')!r}, not at+jwt")


def with_pyjwt(case, token):
    client = jwt.PyJWKClient(case["jwks_url"], cache_keys=False, cache_jwk_set=False)
    key = client.get_signing_key_from_jwt(token)
    jwt.decode(
        token,
        key.key,
        algorithms=ALGORITHMS,
        audience=case["audience"],
        issuer=case["issuer"],
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
    require_at_jwt(jwt.get_unverified_header(token))


def with_joserfc(case, token):
    # authlib 1.9 deprecates its own JOSE module for joserfc, by the same
    # authors, which authlib now depends on.
    with urllib.request.urlopen(case["jwks_url"], timeout=10) as answer:
        keys = KeySet.import_key_set(json.load(answer))
    decoded = joserfc_jwt.decode(token, keys, algorithms=ALGORITHMS)
    joserfc_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": case["issuer"]},
        aud={"essential": True, "value": case["audience"]},
        exp={"essential": True},
    ).validate(decoded.claims)
    require_at_jwt(decoded.header)


LIBRARIES = [
    (f"python PyJWT {version('pyjwt')} PyJWKClient", with_pyjwt),
    (f"python joserfc {version('joserfc')} (authlib {version('authlib')})", with_joserfc),
]


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)
    for library, verify in LIBRARIES:
        for case in cases:
            for name, token in case["tokens"].items():
                try:
                    verify(case, token)
                    outcome = "accepted"
                except Exception as err:  # every refusal is a row, not a crash
                    message = str(err).splitlines()[0] if str(err) else type(err).__name__
                    outcome = f"refused: {message}"
                print("\t".join([library, case["alg"], name, outcome]), flush=True)


if __name__ == "__main__":
    main()
