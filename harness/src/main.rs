fn main() -> std::process::ExitCode {
    harness::main()
}
