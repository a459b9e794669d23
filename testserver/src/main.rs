//! `berth-testserver [--kubeconfig PATH]`: run the test API server until interrupted; prints its URL.

fn main() {
    let mut args = std::env::args().skip(1);
    let mut kubeconfig = std::path::PathBuf::from("berth-testserver.kubeconfig");
    while let Some(a) = args.next() {
        match a.as_str() {
            "--kubeconfig" => kubeconfig = args.next().expect("--kubeconfig needs a path").into(),
            "-h" | "--help" => {
                println!("usage: berth-testserver [--kubeconfig PATH]");
                return;
            }
            other => {
                eprintln!("unknown argument {other:?}");
                std::process::exit(2);
            }
        }
    }
    let srv = berth_testserver::TestServer::start_blocking();
    srv.write_kubeconfig(&kubeconfig).expect("write kubeconfig");
    println!("{}", srv.url());
    println!("kubeconfig: {}", kubeconfig.display());
    loop {
        std::thread::park();
    }
}
