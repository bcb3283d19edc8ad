"""Calling inkan from Python over gRPC, and reading a refusal's
``google.rpc.ErrorInfo``: its reason (what went wrong) and the action the
caller must take, as docs/contract.md lists them.

Stubs are generated from the proto with grpcio-tools, into a temporary
directory (a service would generate them once, at build time):

    pip install -r consumers/python/requirements.txt
    python consumers/python/error_info.py 127.0.0.1:50051 [proto dir]

Against ``inkan serve --dev`` it issues a token, verifies it, then verifies
a tampered copy and prints the refusal's reason and action.
"""

import importlib
import importlib.resources
import pathlib
import sys
import tempfile

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parents[2]


def stubs(proto_dir):
    """Generates and imports inkan/v1/inkan_pb2{,_grpc} from the proto."""
    out = tempfile.mkdtemp(prefix="inkan-stubs-")
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{proto_dir}",
            # google/protobuf/*.proto, which grpcio-tools ships.
            f"-I{importlib.resources.files('grpc_tools') / '_proto'}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            "inkan/v1/inkan.proto",
        ]
    )
    if code != 0:
        raise SystemExit(f"protoc failed ({code})")
    sys.path.insert(0, out)
    return (
        importlib.import_module("inkan.v1.inkan_pb2"),
        importlib.import_module("inkan.v1.inkan_pb2_grpc"),
    )


def error_info(err):
    """The ErrorInfo among a failed call's details, or None."""
    status = rpc_status.from_call(err)
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    return None


def main():
    target = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051"
    proto_dir = sys.argv[2] if len(sys.argv) > 2 else ROOT / "proto"
    pb, pb_grpc = stubs(proto_dir)
    with grpc.insecure_channel(target) as channel:
        inkan = pb_grpc.TokenServiceStub(channel)
        pair = inkan.Issue(
            pb.IssueRequest(
                subject="user-42",
                audience=["orders"],
                scopes=["orders:read"],
                client_id="web",
                device="error_info.py",
            ),
            timeout=10,
        )
        claims = inkan.Verify(
            pb.VerifyRequest(access_token=pair.access_token, audience="orders"), timeout=10
        )
        print(f"verified: subject {claims.subject}")

        # Change one character inside the signature (not the last, whose
        # low bits may be padding): the token is no longer inkan's.
        at = len(pair.access_token) - 5
        swapped = "A" if pair.access_token[at] != "A" else "B"
        tampered = pair.access_token[:at] + swapped + pair.access_token[at + 1 :]
        try:
            inkan.Verify(pb.VerifyRequest(access_token=tampered, audience="orders"), timeout=10)
        except grpc.RpcError as err:
            info = error_info(err)
            if info is None:
                raise SystemExit(f"refused without ErrorInfo: {err.code()}")
            # The reason says what went wrong; the action what to do about it.
            print(
                f"refused: {err.code().name} reason={info.reason} "
                f"action={info.metadata['action']} domain={info.domain}"
            )
            return
        raise SystemExit("a tampered token was accepted")


if __name__ == "__main__":
    main()
