//! `cloak deploy`: the recipes it renders, parsed as YAML and checked for what a deployment
//! depends on (every rank once, consistent launcher variables, rank 0's name, each rank with
//! its own key only, the owners' files at their owners only); the committed recipes in
//! `deploy/` equal the rendering of their documented commands; the commands in the recipes
//! run as they are, as processes on loopback; bad arguments are one `error:` line.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_norway::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cloak(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cloak")).args(args).output().expect("the cloak binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const MODEL: &str = "../examples/models/digits_cnn.onnx";
const INPUT: &str = "../examples/models/digits_sample.npy";

/// The documented commands of the committed recipes.
const COMPOSE_COMMAND: &str = "cloak deploy compose --parties 2 --dealer third-party \
     --model ../examples/models/digits_cnn.onnx --input ../examples/models/digits_sample.npy";
const KUBERNETES_COMMAND: &str = "cloak deploy kubernetes --parties 2 --dealer third-party \
     --model ../examples/models/digits_cnn.onnx --input ../examples/models/digits_sample.npy";

/// A recipe rendered by the binary, to standard output.
fn render(args: &[&str]) -> String {
    let out = cloak(&[&["deploy"], args].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    text(&out.stdout)
}

fn yaml(s: &str) -> Value {
    serde_norway::from_str(s).unwrap_or_else(|e| panic!("not YAML: {e}\n{s}"))
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

fn seq(v: &Value) -> &[Value] {
    v.as_sequence().map(Vec::as_slice).unwrap_or_else(|| panic!("not a sequence: {v:?}"))
}

fn strings(v: &Value) -> Vec<String> {
    seq(v).iter().map(|x| str_of(x).to_string()).collect()
}

/// The value that follows `flag` in a command line.
fn flag<'a>(command: &'a [String], flag: &str) -> Option<&'a str> {
    command.iter().position(|a| a == flag).map(|i| command[i + 1].as_str())
}

/// How one rank is started: its command (after the image's entrypoint) and its environment.
type Start = (Vec<String>, Vec<(String, String)>);

/// Who holds what in a rendering: the defaults of `cloak deploy`.
struct Expect {
    parties: usize,
    third_party: bool,
}

impl Expect {
    fn world(&self) -> usize {
        self.parties + usize::from(self.third_party)
    }
    fn dealer(&self) -> &'static str {
        if self.third_party { "third-party" } else { "first-party" }
    }
}

const MODEL_OWNER: usize = 0;
const DATA_OWNER: usize = 1;

/// Checks a compose file; returns how each rank is started, by rank.
fn check_compose(doc: &Value, e: &Expect) -> Vec<Start> {
    let services = doc["services"].as_mapping().expect("services");
    let networks: BTreeSet<&str> =
        doc["networks"].as_mapping().expect("networks").keys().map(str_of).collect();
    let mut by_rank: Vec<Option<Start>> = vec![None; e.world()];
    let master = services
        .iter()
        .find(|(_, s)| s["environment"]["RANK"].as_str() == Some("0"))
        .map(|(name, _)| str_of(name).to_string())
        .expect("a service of rank 0");
    for (name, s) in services {
        let name = str_of(name);
        let env = s["environment"].as_mapping().expect("environment");
        let env: Vec<(String, String)> =
            env.iter().map(|(k, v)| (str_of(k).to_string(), str_of(v).to_string())).collect();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let rank: usize = get("RANK").expect("RANK").parse().expect("a rank");
        assert!(rank < e.world(), "{name}: rank {rank}");
        assert!(by_rank[rank].is_none(), "rank {rank} appears twice");
        assert_eq!(get("WORLD_SIZE"), Some(e.world().to_string().as_str()), "{name}");
        assert_eq!(get("MASTER_ADDR"), Some(master.as_str()), "{name}");
        assert_eq!(get("MASTER_PORT"), Some("29500"), "{name}");
        assert_eq!(get("CLOAK_TLS_DIR"), Some("/certs"), "{name}");
        assert_eq!(s["restart"].as_str(), Some("no"), "{name}");
        assert_eq!(str_of(&s["image"]), "cloak:latest");
        let nets = strings(&s["networks"]);
        assert!(!nets.is_empty() && nets.iter().all(|n| networks.contains(n.as_str())), "{name}");
        if rank > 0 {
            assert_eq!(strings(&s["depends_on"]), std::slice::from_ref(&master), "{name}");
        }

        let command = strings(&s["command"]);
        let volumes = seq(&s["volumes"]);
        let source = |v: &Value| str_of(&v["source"]).to_string();
        let binds: Vec<&Value> = volumes.iter().filter(|v| v["type"] == "bind").collect();
        // Its own TLS directory, read-only at /certs, and no other rank's.
        let certs: Vec<&&Value> = binds.iter().filter(|v| v["target"] == "/certs").collect();
        assert_eq!(certs.len(), 1, "{name}");
        assert_eq!(source(certs[0]), format!("./certs/rank-{rank}"), "{name}");
        for v in volumes {
            assert_eq!(v["type"] == "bind", v["read_only"] == true, "{name}: {v:?}");
            let src = source(v);
            for other in (0..e.world()).filter(|&o| o != rank) {
                assert!(!src.contains(&format!("rank-{other}")), "{name} mounts {src}");
            }
        }
        // The model at the model owner only, the input at the data owner only.
        let mounts = |path: &str| binds.iter().any(|v| source(v) == path);
        assert_eq!(mounts(MODEL), rank == MODEL_OWNER, "{name}");
        assert_eq!(mounts(INPUT), rank == DATA_OWNER, "{name}");
        assert_eq!(flag(&command, "--model").is_some(), rank == MODEL_OWNER, "{name}");
        assert_eq!(flag(&command, "--input").is_some(), rank == DATA_OWNER, "{name}");
        // The output, at the party that learns it, in a named volume.
        let output = volumes.iter().find(|v| v["target"] == "/output");
        assert_eq!(output.is_some(), rank == DATA_OWNER, "{name}");
        if let Some(v) = output {
            assert_eq!(v["type"], "volume");
            assert!(doc["volumes"][source(v).as_str()].is_mapping(), "{name}: undeclared volume");
            assert_eq!(flag(&command, "--output"), Some("/output/output.npy"));
        }
        if rank == e.parties {
            assert!(e.third_party, "{name}: rank {rank} with a first-party dealer");
            assert_eq!(command[0], "dealer", "{name}");
        } else {
            assert_eq!(command[0], "party", "{name}");
            assert_eq!(flag(&command, "--dealer"), Some(e.dealer()), "{name}");
        }
        assert_eq!(flag(&command, "--parties"), Some(e.parties.to_string().as_str()));
        by_rank[rank] = Some((command, env));
    }
    by_rank
        .into_iter()
        .enumerate()
        .map(|(r, s)| s.unwrap_or_else(|| panic!("no service of rank {r}")))
        .collect()
}

/// The files a projected volume shows under `dir/` (`(path below dir, secret, key)`).
fn visible(volume: &Value, dir: &str) -> Vec<(String, String, String)> {
    let mut files = Vec::new();
    for source in seq(&volume["projected"]["sources"]) {
        let secret = &source["secret"];
        assert!(secret.is_mapping(), "only Secrets are projected: {source:?}");
        for item in seq(&secret["items"]) {
            if let Some(rest) = str_of(&item["path"]).strip_prefix(&format!("{dir}/")) {
                let name = str_of(&secret["name"]).to_string();
                files.push((rest.to_string(), name, str_of(&item["key"]).to_string()));
            }
        }
    }
    files
}

/// Checks a Kubernetes manifest; returns how every pod is started (the environment variables
/// that have a value: not the index).
fn check_kubernetes(text: &str, e: &Expect) -> Start {
    let docs: Vec<Value> = text.split("\n---\n").map(yaml).collect();
    assert_eq!(docs.len(), 2);
    let service = docs.iter().find(|d| d["kind"] == "Service").expect("a Service");
    let job = docs.iter().find(|d| d["kind"] == "Job").expect("a Job");
    assert_eq!(job["apiVersion"], "batch/v1");
    let (job_name, service_name) =
        (str_of(&job["metadata"]["name"]), str_of(&service["metadata"]["name"]));

    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    let world = e.world() as u64;
    assert_eq!(spec["completions"].as_u64(), Some(world));
    assert_eq!(spec["parallelism"].as_u64(), Some(world));
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    // The headless Service selects the Job's pods, and the pods are in its subdomain.
    assert_eq!(service["spec"]["clusterIP"], "None");
    assert_eq!(str_of(&pod["subdomain"]), service_name);
    let labels = spec["template"]["metadata"]["labels"].as_mapping().expect("pod labels");
    let selector = service["spec"]["selector"].as_mapping().expect("a selector");
    assert!(!selector.is_empty());
    for (k, v) in selector {
        assert_eq!(labels.get(k), Some(v), "the selector's {k:?} is not a pod label");
    }

    let containers = seq(&pod["containers"]);
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let env = seq(&c["env"]);
    let value = |name: &str| {
        env.iter().find(|v| v["name"] == name).map(|v| v["value"].as_str().unwrap_or_default())
    };
    // The rank is the index, which the pod has from the Job; nothing may override it.
    assert!(value("RANK").is_none() && value("SLURM_PROCID").is_none());
    let index = env.iter().find(|v| v["name"] == "JOB_COMPLETION_INDEX").expect("the index");
    assert_eq!(
        index["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    );
    assert_eq!(value("WORLD_SIZE"), Some(world.to_string().as_str()));
    let port = value("MASTER_PORT").expect("MASTER_PORT");
    assert_eq!(port, "29500");
    assert_eq!(value("MASTER_ADDR"), Some(format!("{job_name}-0.{service_name}").as_str()));
    let ports = seq(&service["spec"]["ports"]);
    assert!(
        ports.iter().any(|p| p["port"].as_u64().map(|p| p.to_string()).as_deref() == Some(port))
    );
    // The init container waits for the same name.
    let init = &seq(&pod["initContainers"])[0];
    assert_eq!(seq(&init["env"])[0]["value"], value("MASTER_ADDR").unwrap());

    let command = strings(&c["args"]);
    assert_eq!(command[0], "party");
    assert_eq!(flag(&command, "--parties"), Some(e.parties.to_string().as_str()));
    assert_eq!(flag(&command, "--dealer"), Some(e.dealer()));
    let model = flag(&command, "--model").expect("--model");
    let input = flag(&command, "--input").expect("--input");
    let tls = value("CLOAK_TLS_DIR").expect("CLOAK_TLS_DIR");

    // One mount: the directory of the pod's own index in the projected volume.
    let mounts = seq(&c["volumeMounts"]);
    assert_eq!(mounts.len(), 1);
    let mount = &mounts[0];
    assert_eq!(mount["readOnly"], true);
    assert!(mount.get("subPath").is_none());
    let expr = str_of(&mount["subPathExpr"]);
    let at = str_of(&mount["mountPath"]);
    let volumes = seq(&pod["volumes"]);
    assert_eq!(volumes.len(), 1);
    let volume = volumes.iter().find(|v| v["name"] == mount["name"]).expect("the mounted volume");
    let in_pod = |rest: &str| format!("{at}/{rest}");
    let mut secrets_seen = BTreeSet::new();
    for rank in 0..e.world() {
        let dir = expr.replace("$(JOB_COMPLETION_INDEX)", &rank.to_string());
        let files = visible(volume, &dir);
        assert!(!files.is_empty(), "rank {rank} sees nothing");
        for (_, secret, _) in &files {
            secrets_seen.insert(secret.clone());
        }
        // Its own key and certificate in CLOAK_TLS_DIR; no other rank's key at all.
        let keys: Vec<_> = files.iter().filter(|(_, _, k)| k.ends_with(".key")).collect();
        assert_eq!(keys.len(), 1, "rank {rank}: {files:?}");
        let (path, secret, key) = keys[0];
        assert_eq!(in_pod(path), format!("{tls}/rank-{rank}.key"));
        assert_eq!(
            (secret.as_str(), key.as_str()),
            (format!("cloak-certs-rank-{rank}").as_str(), format!("rank-{rank}.key").as_str())
        );
        let has = |p: &str| files.iter().any(|(path, _, _)| in_pod(path) == p);
        assert!(has(&format!("{tls}/rank-{rank}.pem")) && has(&format!("{tls}/ca.pem")));
        for (path, secret, _) in &files {
            if secret.starts_with("cloak-certs-rank-") {
                assert_eq!(secret, &format!("cloak-certs-rank-{rank}"), "rank {rank}: {path}");
            }
        }
        assert_eq!(has(model), rank == MODEL_OWNER, "rank {rank}: the model");
        assert_eq!(has(input), rank == DATA_OWNER, "rank {rank}: the input");
    }
    // Every Secret projected is one rank's certificates or an owner's file, each once.
    let mut want: BTreeSet<String> =
        (0..e.world()).map(|r| format!("cloak-certs-rank-{r}")).collect();
    want.extend(["cloak-model".to_string(), "cloak-input".to_string()]);
    assert_eq!(secrets_seen, want);
    let sources = seq(&volume["projected"]["sources"]);
    assert_eq!(sources.len(), want.len());

    let env = env
        .iter()
        .filter_map(|v| Some((str_of(&v["name"]).to_string(), v["value"].as_str()?.to_string())))
        .collect();
    (command, env)
}

fn base_args(target: &str, parties: usize, third_party: bool) -> Vec<String> {
    let dealer = if third_party { "third-party" } else { "first-party" };
    [
        target,
        "--parties",
        &parties.to_string(),
        "--dealer",
        dealer,
        "--model",
        MODEL,
        "--input",
        INPUT,
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn recipes_for_two_and_three_parties_with_either_dealer_are_sound() {
    for parties in [2, 3] {
        for third_party in [false, true] {
            let e = Expect { parties, third_party };
            let args = base_args("compose", parties, third_party);
            let compose = render(&args.iter().map(String::as_str).collect::<Vec<_>>());
            check_compose(&yaml(&compose), &e);
            let args = base_args("kubernetes", parties, third_party);
            let k8s = render(&args.iter().map(String::as_str).collect::<Vec<_>>());
            check_kubernetes(&k8s, &e);
            // Deterministic: the same arguments, the same text.
            assert_eq!(render(&args.iter().map(String::as_str).collect::<Vec<_>>()), k8s);
        }
    }
}

#[test]
fn pinned_certificates_give_each_rank_every_certificate_and_its_own_key() {
    let mut args = base_args("kubernetes", 2, true);
    args.push("--pinned".into());
    let k8s = render(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let job: Value = yaml(k8s.split("\n---\n").nth(1).unwrap());
    let volume = &seq(&job["spec"]["template"]["spec"]["volumes"])[0];
    for rank in 0..3 {
        let mut files: Vec<String> =
            visible(volume, &format!("rank-{rank}")).into_iter().map(|f| f.0).collect();
        files.sort();
        let mut want: Vec<String> = (0..3).map(|r| format!("certs/rank-{r}.pem")).collect();
        want.push(format!("certs/rank-{rank}.key"));
        want.extend(
            [(0, "model/model.onnx"), (1, "input/input.npy")]
                .into_iter()
                .filter(|(r, _)| *r == rank)
                .map(|(_, f)| f.to_string()),
        );
        want.sort();
        assert_eq!(files, want, "rank {rank}");
    }
    assert!(k8s.contains("--pinned --model"), "the documented command says --pinned");
}

/// The documented command of a committed recipe (its header line), checked, and rendered.
fn committed(file: &str, documented: &str) {
    let path = root().join("deploy").join(file);
    let committed = std::fs::read_to_string(&path).expect("the committed recipe");
    let line = committed
        .lines()
        .find_map(|l| l.strip_prefix("# Rendered by: "))
        .expect("a `# Rendered by: ` line");
    assert_eq!(line, documented, "{file} documents another command");
    let words: Vec<&str> = documented.split_whitespace().collect();
    assert_eq!(words[..2], ["cloak", "deploy"]);
    let rendered = render(&words[2..]);
    assert!(
        rendered == committed,
        "deploy/{file} is not what `{documented}` renders: render it again (from deploy/: \
         {documented} --out {file})"
    );
    let readme = std::fs::read_to_string(root().join("deploy/README.md")).expect("README");
    assert!(readme.contains(documented), "deploy/README.md does not give `{documented}`");
}

#[test]
fn the_committed_recipes_are_the_renderings_of_their_documented_commands() {
    committed("docker-compose.yml", COMPOSE_COMMAND);
    committed("kubernetes.yml", KUBERNETES_COMMAND);
    let e = Expect { parties: 2, third_party: true };
    let compose = std::fs::read_to_string(root().join("deploy/docker-compose.yml")).unwrap();
    check_compose(&yaml(&compose), &e);
    let k8s = std::fs::read_to_string(root().join("deploy/kubernetes.yml")).unwrap();
    check_kubernetes(&k8s, &e);
}

/// Runs one process per rank with the given command and environment, on loopback (rank 0's
/// name and port replaced, TLS left out: loopback needs none), with the paths in the
/// containers replaced by files here; returns each one's output.
fn run_ranks(ranks: &[Start], files: &[(&str, PathBuf)]) -> Vec<Output> {
    let port = cloak::comm::runner::free_local_port().unwrap().to_string();
    let children: Vec<_> = ranks
        .iter()
        .map(|(command, env)| {
            let args = command.iter().map(|a| {
                files
                    .iter()
                    .find(|(p, _)| p == a)
                    .map_or_else(|| a.into(), |(_, f)| f.clone().into_os_string())
            });
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_cloak"));
            cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
            for (r, w) in cloak::comm::LAUNCHERS {
                cmd.env_remove(r).env_remove(w);
            }
            cmd.env_remove("CLOAK_PARTIES").env_remove("JOB_COMPLETION_INDEX");
            for (k, v) in env {
                match k.as_str() {
                    "MASTER_ADDR" => cmd.env(k, "127.0.0.1"),
                    "MASTER_PORT" => cmd.env(k, &port),
                    "CLOAK_TLS_DIR" => cmd.env_remove(k),
                    _ => cmd.env(k, v),
                };
            }
            cmd.spawn().expect("a rank starts")
        })
        .collect();
    let outputs: Vec<Output> =
        children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    for (rank, o) in outputs.iter().enumerate() {
        assert!(o.status.success(), "rank {rank}: {}\n{}", text(&o.stderr), text(&o.stdout));
    }
    outputs
}

fn predicted(stdout: &str) -> Vec<usize> {
    let start =
        stdout.lines().position(|l| l.contains("row  label  predictions")).expect("a table");
    stdout
        .lines()
        .skip(start + 1)
        .map_while(|l| l.split_whitespace().nth(2)?.trim_end_matches(':').parse().ok())
        .collect()
}

#[test]
fn the_kubernetes_command_runs_as_every_rank_the_dealer_included() {
    // Every pod runs the same command; only JOB_COMPLETION_INDEX differs, and the last index
    // of a third-party world is the dealer.
    let args = base_args("kubernetes", 2, true);
    let k8s = render(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (command, env) = check_kubernetes(&k8s, &Expect { parties: 2, third_party: true });
    let ranks: Vec<_> = (0..3)
        .map(|i| {
            let mut env = env.clone();
            env.push(("JOB_COMPLETION_INDEX".into(), i.to_string()));
            (command.clone(), env)
        })
        .collect();
    let models = root().join("examples/models");
    let files = [
        ("/cloak/model/model.onnx", models.join("digits_cnn.onnx")),
        ("/cloak/input/input.npy", models.join("digits_sample.npy")),
    ];
    let out = run_ranks(&ranks, &files);
    let stdout: Vec<String> = out.iter().map(|o| text(&o.stdout)).collect();
    assert!(stdout[0].contains("party 0 of 2 (model owner)"), "{}", stdout[0]);
    assert!(stdout[1].contains("party 1 of 2 (data owner)"), "{}", stdout[1]);
    assert_eq!(predicted(&stdout[1]), (0..8).collect::<Vec<_>>(), "{}", stdout[1]);
    assert!(stdout[2].starts_with("dealer (rank 2) served"), "{}", stdout[2]);
}

#[test]
fn the_compose_commands_run_as_they_are() {
    let args = base_args("compose", 2, true);
    let compose = render(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let ranks = check_compose(&yaml(&compose), &Expect { parties: 2, third_party: true });
    let models = root().join("examples/models");
    let output = std::env::temp_dir().join(format!("cloak-deploy-test-{}.npy", std::process::id()));
    let files = [
        ("/model/model.onnx", models.join("digits_cnn.onnx")),
        ("/input/input.npy", models.join("digits_sample.npy")),
        ("/output/output.npy", output.clone()),
    ];
    let out = run_ranks(&ranks, &files);
    assert_eq!(predicted(&text(&out[1].stdout)), (0..8).collect::<Vec<_>>());
    let logits = cloak::npy::read(&output);
    let _ = std::fs::remove_file(&output);
    assert_eq!(cloak::predicted_classes(&logits.unwrap()).unwrap(), (0..8).collect::<Vec<_>>());
}

/// A failure as the user must see it: a non-zero exit and one `error: ...` line.
fn one_error_line(args: &[&str], expected: &str) {
    let out = cloak(&[&["deploy"], args].concat());
    let stderr = text(&out.stderr);
    assert!(!out.status.success() && out.stdout.is_empty(), "{args:?} succeeded");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{args:?}: stderr is not one line:\n{stderr}");
    assert!(lines[0].starts_with("error: ") && lines[0].contains(expected), "{args:?}: {stderr}");
    assert_eq!(out.status.code(), Some(2), "{args:?}");
}

#[test]
fn bad_combinations_are_one_error_line() {
    let with = |extra: &[&'static str]| {
        let mut a = vec!["compose", "--model", MODEL, "--input", INPUT];
        a.extend_from_slice(extra);
        a
    };
    one_error_line(
        &with(&["--parties", "1"]),
        "--parties `1`: the number of parties must be 2 to 8",
    );
    one_error_line(&with(&["--parties", "2", "--dealer", "bogus"]), "--dealer `bogus`");
    one_error_line(&["compose", "--parties", "2", "--input", INPUT], "--model is required");
    one_error_line(&["kubernetes", "--parties", "2", "--model", MODEL], "--input is required");
    one_error_line(&with(&[]), "--parties is required");
    one_error_line(&["--parties", "2", "--model", MODEL, "--input", INPUT], "compose|kubernetes");
    let mut swarm = with(&["--parties", "2"]);
    swarm[0] = "swarm";
    one_error_line(&swarm, "`swarm` is not a recipe");
    one_error_line(&with(&["--parties", "2", "--data-owner", "2"]), "data");
    one_error_line(&with(&["--parties", "2", "--name", "Cloak_1"]), "--name `Cloak_1`");
}
