use anyhow::Result;

use crate::config::Config;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {}

pub async fn run(_cfg: Config, _args: BenchArgs) -> Result<()> {
    anyhow::bail!("not built yet")
}
