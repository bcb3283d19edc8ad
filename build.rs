//! Compiles the protocol with protox (pure Rust, so no system `protoc`), and
//! writes the descriptor set that server reflection serves.

use std::{env, fs, path::PathBuf};

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let out = PathBuf::from(env::var("OUT_DIR")?);

    // The error details are compiled in so that reflection knows them and
    // grpcurl can print a failure's ErrorInfo; their Rust types come from
    // tonic-types, so no code is generated for them.
    let all = protox::compile(
        ["inkan/v1/inkan.proto", "google/rpc/error_details.proto"],
        ["proto"],
    )?;
    fs::write(out.join("inkan_descriptor.bin"), all.encode_to_vec())?;

    let mut service = all;
    service.file.retain(|file| file.package() != "google.rpc");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(service)?;
    Ok(())
}
