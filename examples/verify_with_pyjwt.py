"""Verify an inkan access token in Python, with PyJWT and inkan's HTTP JWKS.

    pip install 'pyjwt[crypto]'
    python3 examples/verify_with_pyjwt.py http://127.0.0.1:8080 "$AT" --audience orders

The issuer is the base URL (dev mode's issuer is its HTTP address); pass
--issuer when they differ. PyJWKClient caches the key set and fetches it
again when a token names a kid it does not have, which is how a key
rotation reaches it. Exit status 0 and the claims on success; 1 and the
reason on refusal (never the token).
"""

import argparse
import json
import sys

import jwt

# The algorithms inkan signs with. Never take the algorithm from the token.
ALGORITHMS = ["EdDSA", "ES256", "RS256"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url", help="inkan's HTTP address, e.g. http://127.0.0.1:8080")
    parser.add_argument("token", help="the access token")
    parser.add_argument("--issuer", help="inkan's issuer (default: the base URL)")
    parser.add_argument("--audience", help="an audience the token must be for")
    args = parser.parse_args()

    jwks = jwt.PyJWKClient(args.base_url.rstrip("/") + "/.well-known/jwks.json")
    try:
        header = jwt.get_unverified_header(args.token)
        # RFC 9068: an access token says so in its header.
        if header.get("typ", "").lower() not in ("at+jwt", "application/at+jwt"):
            raise jwt.InvalidTokenError("not an access token (typ is not at+jwt)")
        key = jwks.get_signing_key_from_jwt(args.token)
        claims = jwt.decode(
            args.token,
            key.key,
            algorithms=ALGORITHMS,
            issuer=args.issuer or args.base_url.rstrip("/"),
            audience=args.audience,
            options={"require": ["exp", "iat", "sub", "iss"], "verify_aud": args.audience is not None},
            leeway=30,
        )
    except jwt.PyJWTError as refusal:
        print(f"refused: {type(refusal).__name__}: {refusal}", file=sys.stderr)
        return 1
    print(json.dumps(claims, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
