//! Generates the ONNX protobuf messages from `proto/onnx.proto` with the pure-Rust parser of
//! `protobuf-codegen`: no `protoc` binary and no Python are needed to build.

fn main() {
    println!("cargo:rerun-if-changed=proto/onnx.proto");
    protobuf_codegen::Codegen::new()
        .pure()
        .includes(["proto"])
        .input("proto/onnx.proto")
        .cargo_out_dir("onnx_proto")
        .run_from_script();
}
