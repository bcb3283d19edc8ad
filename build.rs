//! Compiles the protocol with protox (pure Rust, so no system `protoc`), and
//! writes the descriptor set that server reflection serves.

use std::{env, fs, path::PathBuf};

use prost::Message;

const SECRET_BEARING: [&str; 5] = [
    ".inkan.v1.TokenPair",
    ".inkan.v1.RefreshRequest",
    ".inkan.v1.VerifyRequest",
    ".inkan.v1.RevokeRequest",
    ".inkan.v1.RevokeRequest.target",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let out = PathBuf::from(env::var("OUT_DIR")?);
    let descriptors = protox::compile(["inkan/v1/inkan.proto"], ["proto"])?;
    fs::write(
        out.join("inkan_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Messages that carry tokens get a hand-written Debug that hides
        // them (src/proto.rs), so no `{:?}` can leak a token into a log.
        .skip_debug(SECRET_BEARING)
        .compile_fds(descriptors)?;
    Ok(())
}
