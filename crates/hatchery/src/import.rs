use anyhow::Result;

use crate::config::Config;

#[derive(clap::Args, Debug)]
pub struct ImportArgs {}

pub async fn run(_cfg: Config, _args: ImportArgs) -> Result<()> {
    anyhow::bail!("not built yet")
}
