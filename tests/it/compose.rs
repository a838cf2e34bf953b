//! The compose files against the compose specification's JSON schema (the
//! `compose_spec.json` shipped in the `docker-compose` 1.29.2 wheel on PyPI),
//! plus what the README promises of them. No Docker engine needed.
//!
//! Gated on `COMPOSE_PYTHON` (a Python with jsonschema and PyYAML) and
//! `COMPOSE_SCHEMA` (the schema file); `.ci/run` provides both.

use std::process::Command;

use serde_json::Value;

/// The YAML as JSON after schema validation, or the validator's complaint.
fn validate(python: &str, schema: &str, yaml: &str) -> Result<Value, String> {
    let script = r#"
import json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
doc = yaml.safe_load(sys.stdin.read())
try:
    jsonschema.validate(doc, schema)
except jsonschema.ValidationError as e:
    print("INVALID: " + e.message, file=sys.stderr)
    sys.exit(3)
print(json.dumps(doc))
"#;
    let mut child = Command::new(python)
        .args(["-c", script, schema])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(yaml.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

#[test]
fn compose_files_follow_the_spec_and_the_readme() {
    let (Ok(python), Ok(schema)) = (std::env::var("COMPOSE_PYTHON"), std::env::var("COMPOSE_SCHEMA")) else {
        eprintln!("skipped: set COMPOSE_PYTHON and COMPOSE_SCHEMA (.ci/run does)");
        return;
    };
    let read = |f: &str| std::fs::read_to_string(crate::support::repo().join(f)).unwrap();

    let main = validate(&python, &schema, &read("docker-compose.yml")).unwrap();
    let services = &main["services"];
    assert!(
        services["qdrant"]["image"]
            .as_str()
            .unwrap()
            .starts_with("qdrant/qdrant:v")
    );
    assert!(services["qdrant"]["healthcheck"].is_object());
    let bot = &services["paperbot"];
    assert_eq!(bot["depends_on"]["qdrant"]["condition"], "service_healthy");
    assert_eq!(bot["environment"]["PAPERBOT_QDRANT_URL"], "http://qdrant:6334");
    assert_eq!(bot["env_file"], ".env");
    assert_eq!(services["ollama"]["profiles"][0], "ollama");
    for v in ["qdrant-data", "paperbot-data", "ollama-models"] {
        assert!(main["volumes"].get(v).is_some(), "volume {v}");
    }

    let cluster = validate(&python, &schema, &read("docker-compose.cluster.yml")).unwrap();
    let nodes: Vec<&String> = cluster["services"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("qdrant-"))
        .collect();
    assert_eq!(nodes.len(), 3);
    let env = &cluster["services"]["paperbot"]["environment"];
    assert_eq!(env["PAPERBOT_STORE__SHARD_NUMBER"], "3");
    assert_eq!(env["PAPERBOT_STORE__REPLICATION_FACTOR"], "2");

    // The secrets the compose stack reads are the ones .env.example names.
    let example = read(".env.example");
    for key in ["DISCORD_TOKEN", "PAPERBOT_LLM_API_KEY", "QDRANT__SERVICE__API_KEY"] {
        assert!(example.contains(key), ".env.example names {key}");
    }

    // And the validator does reject a typo.
    let typo = read("docker-compose.yml").replace("restart: unless-stopped", "restartt: unless-stopped");
    let err = validate(&python, &schema, &typo).unwrap_err();
    assert!(err.contains("restartt"), "{err}");
}
