//! `paperbot serve`: the Discord bot, its background sync and the ops endpoint.

use std::process::ExitCode;

use paperbot::app::App;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Discord shards in the whole deployment [config: discord.shard_total]
    #[arg(long, value_name = "N")]
    shards: Option<u32>,
    /// The shards this process runs: `a..b` (b excluded) or `a..=b`
    /// [default: all of them; config: discord.shard_first/shard_last]
    #[arg(long, value_name = "RANGE", value_parser = paperbot::discord::parse_shard_range, requires = "shards")]
    shard_range: Option<(u32, u32)>,
}

pub async fn run(mut app: App, args: ServeArgs) -> anyhow::Result<ExitCode> {
    if let Some(total) = args.shards {
        let (first, last) = args.shard_range.unwrap_or((0, total.saturating_sub(1)));
        let d = &mut app.config.discord;
        (d.shard_total, d.shard_first, d.shard_last) = (total, first, last);
    }
    // Refuse to start on a configuration `config --check` would reject.
    let problems = app.problems();
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("error: {p}");
        }
        return Ok(ExitCode::from(2));
    }
    app.serve().await.map(|()| ExitCode::SUCCESS)
}
