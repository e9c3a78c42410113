//! `vidmesh-node`: run a node, generate a clip catalog, or run the load client.

fn main() -> std::process::ExitCode {
    vidmesh_node::cli::run(std::env::args_os())
}
