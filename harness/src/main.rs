fn main() -> std::process::ExitCode {
    memsim::main()
}
