//! The command line: parse arguments, run a stage of the library, print, pick the exit code.

use crate::config::{self, Config};
use crate::error::{Problem, Problems, exit};
use crate::render::{self, values::SetValue};
use crate::source::DirSource;
use crate::tree::{self, RenderedTree};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "Render, diff and apply Kubernetes manifests through git release branches"
)]
pub struct Cli {
    /// Run as if berth was started in DIR.
    #[arg(short = 'C', value_name = "DIR", global = true)]
    pub directory: Option<PathBuf>,
    /// berth.yaml to use (default: found from the current directory upward).
    #[arg(long, value_name = "FILE", global = true, env = "BERTH_CONFIG")]
    pub config: Option<PathBuf>,
    /// When to colour output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true, env = "BERTH_COLOR")]
    pub color: ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render channels to objects: a YAML stream on stdout, or the rendered tree with --out.
    Render(RenderArgs),
    /// Print the JSON Schema of berth.yaml (for editors).
    Schema,
}

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Channel to render (repeatable; default: all).
    #[arg(short = 'c', long = "channel", value_name = "CHANNEL")]
    pub channels: Vec<String>,
    /// Only this app (repeatable; default: all of the channel's).
    #[arg(short = 'a', long = "app", value_name = "APP")]
    pub apps: Vec<String>,
    /// Override a value: key.path=value (repeatable; layered last).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<SetValue>,
    /// Write the rendered tree of each channel to DIR/<channel>/ instead of printing.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Format of the objects printed to stdout.
    #[arg(short = 'o', long, value_enum, default_value_t = RenderFormat::Yaml)]
    pub output: RenderFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderFormat {
    Yaml,
    Json,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(problems) => {
            let text = problems.to_string();
            let text = if color {
                text.replace("error:", "\x1b[1;31merror:\x1b[0m")
                    .replace("  hint:", "  \x1b[36mhint:\x1b[0m")
            } else {
                text
            };
            eprintln!("{text}");
            ExitCode::from(exit::ERROR)
        }
    }
}

/// Run a parsed command line; `Ok` holds the exit code.
pub fn run(cli: Cli) -> Result<u8, Problems> {
    if let Some(dir) = &cli.directory {
        std::env::set_current_dir(dir)
            .map_err(|e| Problem::new(format!("cannot change to directory: {e}")).in_file(dir))?;
    }
    match &cli.command {
        Command::Schema => {
            let schema = schemars::schema_for!(config::raw::RawConfig);
            print(&format!(
                "{}\n",
                serde_json::to_string_pretty(&schema).expect("schemas serialize")
            ))?;
            Ok(exit::OK)
        }
        Command::Render(args) => {
            let (config, source) = load_config(&cli)?;
            render_command(&config, &source, args)
        }
    }
}

fn load_config(cli: &Cli) -> Result<(Config, DirSource), Problems> {
    let file = match &cli.config {
        Some(file) => file.clone(),
        None => config::find(Path::new("."))?,
    };
    let root = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let shown = shown_path(&file);
    let source = DirSource::new(shown_path(&root));
    let config = config::load(&shown, &source)?;
    Ok((config, source))
}

/// Show paths relative to the current directory where they are below it.
fn shown_path(path: &Path) -> PathBuf {
    let (Ok(cwd), Ok(full)) = (std::env::current_dir(), path.canonicalize()) else {
        return path.to_path_buf();
    };
    match full.strip_prefix(&cwd) {
        Ok(rel) if rel.as_os_str().is_empty() => PathBuf::from("."),
        Ok(rel) => rel.to_path_buf(),
        Err(_) => full,
    }
}

fn render_command(config: &Config, source: &DirSource, args: &RenderArgs) -> Result<u8, Problems> {
    let channels = config.select_channels(&args.channels)?;
    let options = render::Options {
        apps: args.apps.clone(),
        sets: args.sets.clone(),
        source: crate::git::source_info(&config.root),
    };
    let sets = render::render(config, &channels, source, &options)?;
    match &args.out {
        Some(dir) => {
            for set in &sets {
                let target = dir.join(&set.channel);
                RenderedTree::build(set).write_to(&target).map_err(|e| {
                    Problem::new(format!("cannot write the rendered tree: {e}")).in_file(&target)
                })?;
                eprintln!(
                    "channel {}: {} objects written to {}",
                    set.channel,
                    set.objects.len(),
                    target.display()
                );
            }
        }
        None => match args.output {
            RenderFormat::Yaml => print(&tree::yaml_stream(&sets))?,
            RenderFormat::Json => print(&tree::json_list(&sets))?,
        },
    }
    Ok(exit::OK)
}

/// Print to stdout; a closed pipe (`berth render | head`) is not an error.
fn print(text: &str) -> Result<(), Problems> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Problem::new(format!("cannot write to stdout: {e}")).into()),
    }
}
