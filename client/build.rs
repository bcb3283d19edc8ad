//! Compiles inkan's protocol for the client side only, with protox (pure
//! Rust, so no system `protoc`). The proto is the server's own file: one
//! contract, never a copy that could drift.

const SECRET_BEARING: [&str; 5] = [
    ".inkan.v1.TokenPair",
    ".inkan.v1.RefreshRequest",
    ".inkan.v1.VerifyRequest",
    ".inkan.v1.RevokeRequest",
    ".inkan.v1.RevokeRequest.target",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../proto");
    let descriptors = protox::compile(["inkan/v1/inkan.proto"], ["../proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(false)
        // Messages that carry tokens get a hand-written Debug that hides
        // them (src/proto.rs), so no `{:?}` can leak a token into a log.
        .skip_debug(SECRET_BEARING)
        .compile_fds(descriptors)?;
    Ok(())
}
