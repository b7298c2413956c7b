//! `cloak deploy`: renders a ready-to-use deployment of `cloak party` (and `cloak dealer`),
//! one rank per container: a docker-compose file (one service per rank on one network) or
//! a Kubernetes manifest (an Indexed Job, pod `<index>` being rank `<index>`, and the headless
//! Service that gives rank 0 a stable name).
//!
//! Every rank finds its TLS material through `CLOAK_TLS_DIR`, a read-only mount that holds
//! its own key and no other rank's; the model owner alone is given the model and the data
//! owner alone the input. The rendering is a pure function of the arguments (no clock, no
//! working directory), written out by the small YAML emitter below, so a committed recipe
//! can be checked against its documented command.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use cloak::Roles;

use super::party::parse_parties;
use super::{CliError, CliResult, DealerArg, RoleArgs, UNUSABLE};

#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    /// What to render: `compose` (a docker-compose file) or `kubernetes` (an Indexed Job
    /// and its headless Service).
    #[arg(value_name = "compose|kubernetes")]
    pub target: Option<String>,
    /// Computing parties, 2 to 8.
    #[arg(long, value_name = "N")]
    pub parties: Option<String>,
    /// Who deals correlated randomness: party 0, or a separate process, the last rank
    /// [default: first-party].
    #[arg(long, value_name = "first-party|third-party")]
    pub dealer: Option<String>,
    /// The container image that runs `cloak` (deploy/Dockerfile builds one).
    #[arg(long, default_value = DEFAULT_IMAGE)]
    pub image: String,
    /// Rank 0's rendezvous port (MASTER_PORT).
    #[arg(long, default_value_t = DEFAULT_PORT, value_parser = parse_port)]
    pub port: u16,
    /// The model owner's ONNX file, as the recipe refers to it: compose bind-mounts it into
    /// the model owner's service alone (a relative path is relative to the compose file's
    /// directory); kubernetes names it in the command that creates the model's Secret.
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// The data owner's input (.npy), as --model is the model owner's.
    #[arg(long, value_name = "PATH")]
    pub input: Option<PathBuf>,
    #[command(flatten)]
    pub roles: RoleArgs,
    /// Seconds any communication step may wait for a peer, connecting included: long
    /// enough for every container to start.
    #[arg(long, default_value_t = DEFAULT_TIMEOUT, value_name = "SECONDS")]
    pub timeout: f64,
    /// The deployment's name: the compose project, or the Job and Service (and the prefix of
    /// the Secrets) on Kubernetes.
    #[arg(long, default_value = DEFAULT_NAME)]
    pub name: String,
    /// Kubernetes: the certificates were made with `cloak certs --pinned` (each rank's Secret
    /// holds every rank's certificate and no CA).
    #[arg(long)]
    pub pinned: bool,
    /// Write the recipe here rather than to standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// How the header line that holds the rendering command starts.
const RENDERED_BY: &str = "Rendered by: ";
const DEFAULT_IMAGE: &str = "cloak:latest";
const DEFAULT_PORT: u16 = 29500;
const DEFAULT_TIMEOUT: f64 = 300.0;
const DEFAULT_NAME: &str = "cloak";
/// The user the image of deploy/Dockerfile runs as.
const UID: u64 = 10001;

fn parse_port(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("`{s}`: rank 0 listens on a fixed port, 1 to 65535")),
    }
}

/// The kind of recipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Compose,
    Kubernetes,
}

/// Everything a recipe depends on, checked.
#[derive(Debug)]
struct Plan {
    target: Target,
    parties: usize,
    dealer: DealerArg,
    image: String,
    port: u16,
    model: String,
    input: String,
    roles: Roles,
    timeout: f64,
    name: String,
    pinned: bool,
    /// The command that renders this recipe (the arguments, normalised; no --out).
    command: String,
}

impl Plan {
    fn ttp(&self) -> bool {
        self.dealer == DealerArg::ThirdParty
    }

    /// Processes in all: the parties, and the dealer when it is one.
    fn world(&self) -> usize {
        self.parties + usize::from(self.ttp())
    }

    /// The ranks that learn the output.
    fn revealed(&self, rank: usize) -> bool {
        rank < self.parties && self.roles.reveal_to.is_none_or(|r| r == rank)
    }

    fn what(&self) -> String {
        format!(
            "{} computing parties{}",
            self.parties,
            if self.ttp() {
                format!(" and a third-party dealer (rank {})", self.parties)
            } else {
                " (party 0 deals the correlated randomness: it could unmask everything, for \
                 trials only)"
                    .to_string()
            }
        )
    }

    /// `cloak party` flags common to every computing party.
    fn party_args(&self) -> Vec<String> {
        let r = &self.roles;
        let mut a: Vec<String> = vec!["party".into(), "--parties".into(), self.parties.to_string()];
        a.extend(["--dealer".into(), self.dealer.name().into()]);
        a.extend(["--model-owner".into(), r.model_owner.to_string()]);
        a.extend(["--data-owner".into(), r.data_owner.to_string()]);
        let reveal = r.reveal_to.map_or_else(|| "all".to_string(), |x| x.to_string());
        a.extend(["--reveal-to".into(), reveal, "--timeout".into(), self.timeout.to_string()]);
        a
    }
}

fn unusable(message: impl Into<String>) -> CliError {
    CliError::new(UNUSABLE, message)
}

/// A path as the recipe writes it: text without control characters.
fn path_text(flag: &str, path: &Option<PathBuf>, owner: &str) -> CliResult<String> {
    let path = path.as_ref().ok_or_else(|| {
        unusable(format!("{flag} is required: the {owner}'s file, as the recipe refers to it"))
    })?;
    let text = path
        .to_str()
        .ok_or_else(|| unusable(format!("{flag} {}: not UTF-8 text", path.display())))?;
    if text.is_empty() || text.chars().any(char::is_control) {
        return Err(unusable(format!("{flag} {text:?}: not a usable path")));
    }
    Ok(text.to_owned())
}

/// A word of a shell command line, quoted when it needs to be.
fn shell_word(s: &str) -> String {
    let safe =
        !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c));
    if safe { s.to_owned() } else { format!("'{}'", s.replace('\'', r"'\''")) }
}

fn plan(args: &DeployArgs) -> CliResult<Plan> {
    let target = match args.target.as_deref() {
        Some("compose") => Target::Compose,
        Some("kubernetes") => Target::Kubernetes,
        Some(other) => {
            return Err(unusable(format!(
                "`{other}` is not a recipe: cloak deploy renders `compose` or `kubernetes`"
            )));
        }
        None => return Err(unusable("say what to render: cloak deploy compose|kubernetes ...")),
    };
    let parties = match &args.parties {
        Some(p) => parse_parties(p).map_err(|e| unusable(format!("--parties {e}")))?,
        None => return Err(unusable("--parties is required: 2 to 8 computing parties")),
    };
    let dealer = match &args.dealer {
        Some(d) => DealerArg::from_str(d, false).map_err(|_| {
            unusable(format!("--dealer `{d}`: expected first-party or third-party"))
        })?,
        None => DealerArg::FirstParty,
    };
    let roles = args.roles.roles();
    roles.check(parties).map_err(|e| unusable(e.to_string()))?;
    let model = path_text("--model", &args.model, "model owner")?;
    let input = path_text("--input", &args.input, "data owner")?;
    let name = &args.name;
    let label = name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !label {
        return Err(unusable(format!(
            "--name `{name}`: lower-case letters, digits and inner dashes, at most 40"
        )));
    }
    let image = &args.image;
    if image.is_empty() || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(unusable(format!("--image {image:?}: not an image reference")));
    }
    let timeout = super::seconds("--timeout", args.timeout)?.as_secs_f64();

    // The documented command: every choice that differs from a default, in a fixed order.
    let mut words: Vec<String> = vec!["cloak".into(), "deploy".into()];
    words.push(match target {
        Target::Compose => "compose".into(),
        Target::Kubernetes => "kubernetes".into(),
    });
    words.extend(["--parties".into(), parties.to_string()]);
    words.extend(["--dealer".into(), dealer.name().into()]);
    let defaults = Roles { model_owner: 0, data_owner: 1, reveal_to: Some(1) };
    if roles != defaults {
        words.extend(args.roles.to_args().into_iter().map(|a| a.to_string_lossy().into_owned()));
    }
    if image != DEFAULT_IMAGE {
        words.extend(["--image".into(), image.clone()]);
    }
    if args.port != DEFAULT_PORT {
        words.extend(["--port".into(), args.port.to_string()]);
    }
    if timeout != DEFAULT_TIMEOUT {
        words.extend(["--timeout".into(), timeout.to_string()]);
    }
    if name != DEFAULT_NAME {
        words.extend(["--name".into(), name.clone()]);
    }
    if args.pinned && target == Target::Kubernetes {
        words.push("--pinned".into());
    }
    words.extend(["--model".into(), model.clone(), "--input".into(), input.clone()]);
    let command = words.iter().map(|w| shell_word(w)).collect::<Vec<_>>().join(" ");

    Ok(Plan {
        target,
        parties,
        dealer,
        image: image.clone(),
        port: args.port,
        model,
        input,
        roles,
        timeout,
        name: name.clone(),
        pinned: args.pinned,
        command,
    })
}

pub(crate) fn run(args: &DeployArgs) -> CliResult<()> {
    let plan = plan(args)?;
    let text = match plan.target {
        Target::Compose => compose(&plan),
        Target::Kubernetes => kubernetes(&plan),
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text)
                .map_err(|e| CliError::failed(format!("{}: {e}", path.display())))?;
            println!("wrote {} ({} ranks: {})", path.display(), plan.world(), plan.what());
        }
        None => print!("{text}"),
    }
    Ok(())
}

// ----- the recipes -----

/// Compose service name of a rank.
fn service(plan: &Plan, rank: usize) -> String {
    if rank == plan.parties { "dealer".into() } else { format!("party-{rank}") }
}

fn compose(plan: &Plan) -> String {
    let world = plan.world();
    let master = service(plan, 0);
    let mut services = Vec::new();
    let mut output_volumes = Vec::new();
    for rank in 0..world {
        let mut command: Vec<String> = if rank == plan.parties {
            let t = plan.timeout.to_string();
            vec![
                "dealer".into(),
                "--parties".into(),
                plan.parties.to_string(),
                "--timeout".into(),
                t,
            ]
        } else {
            plan.party_args()
        };
        let bind = |source: &str, target: &str| {
            Y::map([
                ("type", Y::s("bind")),
                ("source", Y::s(source)),
                ("target", Y::s(target)),
                ("read_only", Y::Bool(true)),
            ])
        };
        let mut volumes = vec![bind(&format!("./certs/rank-{rank}"), "/certs")];
        if rank == plan.roles.model_owner {
            volumes.push(bind(&plan.model, "/model/model.onnx"));
            command.extend(["--model".into(), "/model/model.onnx".into()]);
        }
        if rank == plan.roles.data_owner {
            volumes.push(bind(&plan.input, "/input/input.npy"));
            command.extend(["--input".into(), "/input/input.npy".into()]);
        }
        if plan.revealed(rank) {
            let volume = format!("output-party-{rank}");
            volumes.push(Y::map([
                ("type", Y::s("volume")),
                ("source", Y::s(&volume)),
                ("target", Y::s("/output")),
            ]));
            output_volumes.push(Entry::new(&volume, Y::Map(Vec::new())));
            command.extend(["--output".into(), "/output/output.npy".into()]);
        }
        let mut s = vec![
            Entry::new("image", Y::s(&plan.image)),
            Entry::new("command", Y::Flow(command)),
            Entry::new(
                "environment",
                Y::map([
                    ("RANK", Y::s(&rank.to_string())),
                    ("WORLD_SIZE", Y::s(&world.to_string())),
                    ("MASTER_ADDR", Y::s(&master)),
                    ("MASTER_PORT", Y::s(&plan.port.to_string())),
                    ("CLOAK_TLS_DIR", Y::s("/certs")),
                ]),
            ),
            Entry::new("volumes", Y::List(volumes)),
            Entry::new("networks", Y::List(vec![Y::s(&plan.name)])),
            Entry::new("restart", Y::s("no")),
        ];
        if rank > 0 {
            // Rank 0's name resolves once its container is on the network; the others fail
            // at once on a name that does not resolve, so they start after it.
            s.push(Entry::new("depends_on", Y::List(vec![Y::s(&master)])));
        }
        let role = rank_role(plan, rank);
        services.push(Entry::new(&service(plan, rank), Y::Map(s)).comment(&format!(
            "rank {rank}: {role}{}",
            if rank == 0 { " (MASTER_ADDR: the others register here)" } else { "" }
        )));
    }
    let mut doc = vec![
        Entry::new("name", Y::s(&plan.name)),
        Entry::new("services", Y::Map(services)),
        Entry::new("networks", Y::map([(plan.name.as_str(), Y::Map(Vec::new()))])),
    ];
    if !output_volumes.is_empty() {
        doc.push(Entry::new("volumes", Y::Map(output_volumes)).comment(
            "The revealed output (/output/output.npy); read it with docker cp, see \
             deploy/README.md.",
        ));
    }
    let revealed: Vec<String> =
        (0..plan.parties).filter(|&r| plan.revealed(r)).map(|r| service(plan, r)).collect();
    let header = vec![
        format!("Cloak: {}, one docker compose service per rank.", plan.what()),
        format!("{RENDERED_BY}{}", plan.command),
        "(render it again rather than edit it by hand)".into(),
        String::new(),
        "Before `docker compose up`: build the image (deploy/Dockerfile), and give each rank r \
         the directory ./certs/rank-<r> beside this file, holding its own rank-<r>.pem and \
         rank-<r>.key and ca.pem (or, made with `cloak certs --pinned`, every rank's \
         certificate), readable by the image's user (uid 10001). TLS is mandatory: the \
         parties are not on loopback."
            .into(),
        format!(
            "The model owner (party {}) alone mounts the model, the data owner (party {}) alone \
             the input; {} learn{} the output: predictions in the log, logits in /output.",
            plan.roles.model_owner,
            plan.roles.data_owner,
            revealed.join(", "),
            if revealed.len() == 1 { "s" } else { "" }
        ),
    ];
    let mut out = comments(&header);
    out.push('\n');
    emit_map(&doc, 0, &mut out);
    out
}

fn rank_role(plan: &Plan, rank: usize) -> String {
    if rank == plan.parties {
        return "the dealer".into();
    }
    let mut r = Vec::new();
    if rank == plan.roles.model_owner {
        r.push("model owner");
    }
    if rank == plan.roles.data_owner {
        r.push("data owner");
    }
    if r.is_empty() { "helper party".into() } else { format!("party, {}", r.join(" and ")) }
}

fn kubernetes(plan: &Plan) -> String {
    let world = plan.world();
    let name = &plan.name;
    let master = format!("{name}-0.{name}");
    let labels = || {
        Y::map([
            ("app.kubernetes.io/name", Y::s("cloak")),
            ("app.kubernetes.io/instance", Y::s(name)),
        ])
    };
    let certs_secret = |r: usize| format!("{name}-certs-rank-{r}");
    let (model_secret, input_secret) = (format!("{name}-model"), format!("{name}-input"));

    let service = vec![
        Entry::new("apiVersion", Y::s("v1")),
        Entry::new("kind", Y::s("Service")),
        Entry::new("metadata", Y::map([("name", Y::s(name)), ("labels", labels())])),
        Entry::new(
            "spec",
            Y::Map(vec![
                Entry::new("clusterIP", Y::s("None")).comment(
                    "Headless: each pod of the Job gets the DNS name <job>-<index>.<service>, \
                     and rank 0's is MASTER_ADDR.",
                ),
                Entry::new("publishNotReadyAddresses", Y::Bool(true))
                    .comment("Published from the pod's start: the others need it to register."),
                Entry::new("selector", Y::map([("app.kubernetes.io/instance", Y::s(name))])),
                Entry::new(
                    "ports",
                    Y::List(vec![Y::map([
                        ("name", Y::s("rendezvous")),
                        ("port", Y::Int(u64::from(plan.port))),
                    ])]),
                ),
            ]),
        ),
    ];

    // The projected volume: every rank's directory; each pod mounts its own only.
    let mut sources = Vec::new();
    for r in 0..world {
        let mut keys = vec![format!("rank-{r}.pem"), format!("rank-{r}.key")];
        if plan.pinned {
            keys = (0..world).map(|p| format!("rank-{p}.pem")).collect();
            keys.push(format!("rank-{r}.key"));
        } else {
            keys.push("ca.pem".into());
        }
        let items = keys
            .iter()
            .map(|k| Y::map([("key", Y::s(k)), ("path", Y::s(&format!("rank-{r}/certs/{k}")))]))
            .collect();
        sources.push(Y::map([(
            "secret",
            Y::map([("name", Y::s(&certs_secret(r))), ("items", Y::List(items))]),
        )]));
    }
    for (secret, key, rank, dir) in [
        (&model_secret, "model.onnx", plan.roles.model_owner, "model"),
        (&input_secret, "input.npy", plan.roles.data_owner, "input"),
    ] {
        let item =
            Y::map([("key", Y::s(key)), ("path", Y::s(&format!("rank-{rank}/{dir}/{key}")))]);
        sources.push(Y::map([(
            "secret",
            Y::map([("name", Y::s(secret)), ("items", Y::List(vec![item]))]),
        )]));
    }

    let mut args = plan.party_args();
    args.extend([
        "--model".into(),
        "/cloak/model/model.onnx".into(),
        "--input".into(),
        "/cloak/input/input.npy".into(),
    ]);
    let index_env = Y::map([
        ("name", Y::s("JOB_COMPLETION_INDEX")),
        (
            "valueFrom",
            Y::map([(
                "fieldRef",
                Y::map([(
                    "fieldPath",
                    Y::s("metadata.annotations['batch.kubernetes.io/job-completion-index']"),
                )]),
            )]),
        ),
    ]);
    let env = |n: &str, v: &str| Y::map([("name", Y::s(n)), ("value", Y::s(v))]);
    // (`$(seq N)` is no Kubernetes variable reference: Kubernetes leaves it to the shell.)
    let wait = format!(
        "for i in $(seq {secs}); do getent hosts \"$MASTER_ADDR\" >/dev/null && exit 0; sleep 1; \
         done; echo \"$MASTER_ADDR did not resolve in {secs} s\" >&2; exit 1",
        secs = plan.timeout.ceil()
    );
    let container = Y::Map(vec![
        Entry::new("name", Y::s("cloak")),
        Entry::new("image", Y::s(&plan.image)),
        Entry::new("imagePullPolicy", Y::s("IfNotPresent")),
        Entry::new("args", Y::Flow(args)).comment(
            "One command for every pod: the model owner alone finds /cloak/model, the data \
             owner alone /cloak/input (the others ignore these flags)",
        ),
        Entry::new(
            "env",
            Y::List(vec![
                index_env,
                env("WORLD_SIZE", &world.to_string()),
                env("MASTER_ADDR", &master),
                env("MASTER_PORT", &plan.port.to_string()),
                env("CLOAK_TLS_DIR", "/cloak/certs"),
            ]),
        )
        .comment(
            "The rank is JOB_COMPLETION_INDEX (set by the Job controller too; declared here \
             for subPathExpr below).",
        ),
        Entry::new(
            "ports",
            Y::List(vec![Y::map([
                ("name", Y::s("rendezvous")),
                ("containerPort", Y::Int(u64::from(plan.port))),
            ])]),
        ),
        Entry::new(
            "volumeMounts",
            Y::List(vec![Y::map([
                ("name", Y::s("cloak")),
                ("mountPath", Y::s("/cloak")),
                ("subPathExpr", Y::s("rank-$(JOB_COMPLETION_INDEX)")),
                ("readOnly", Y::Bool(true)),
            ])]),
        )
        .comment("Only this pod's own directory of the volume: see `volumes` below."),
    ]);
    let init = Y::Map(vec![
        Entry::new("name", Y::s("wait-for-rank-0")),
        Entry::new("image", Y::s(&plan.image)),
        Entry::new("imagePullPolicy", Y::s("IfNotPresent")),
        Entry::new("command", Y::Flow(vec!["sh".into(), "-c".into(), wait])),
        Entry::new("env", Y::List(vec![env("MASTER_ADDR", &master)])),
    ]);
    let pod = vec![
        Entry::new("subdomain", Y::s(name)).comment("= the Service: pod names resolve in it."),
        Entry::new("restartPolicy", Y::s("Never")),
        Entry::new("automountServiceAccountToken", Y::Bool(false))
            .comment("A party needs no access to the cluster's API."),
        Entry::new("enableServiceLinks", Y::Bool(false)),
        Entry::new(
            "securityContext",
            Y::map([
                ("runAsNonRoot", Y::Bool(true)),
                ("runAsUser", Y::Int(UID)),
                ("runAsGroup", Y::Int(UID)),
                ("fsGroup", Y::Int(UID)),
            ]),
        ),
        Entry::new("initContainers", Y::List(vec![init])).comment(
            "A party fails at once on a name that does not resolve: wait until rank 0's pod \
             is published.",
        ),
        Entry::new("containers", Y::List(vec![container])),
        Entry::new(
            "volumes",
            Y::List(vec![Y::map([
                ("name", Y::s("cloak")),
                (
                    "projected",
                    Y::Map(vec![
                        Entry::new("defaultMode", Y::Int(0o440)).comment("0440"),
                        Entry::new("sources", Y::List(sources)),
                    ]),
                ),
            ])]),
        )
        .comment(&SECRETS_NOTE.join(" ")),
    ];
    let job = vec![
        Entry::new("apiVersion", Y::s("batch/v1")),
        Entry::new("kind", Y::s("Job")),
        Entry::new("metadata", Y::map([("name", Y::s(name)), ("labels", labels())])),
        Entry::new(
            "spec",
            Y::Map(vec![
                Entry::new("completionMode", Y::s("Indexed"))
                    .comment("Pod <index> is rank <index>; all run at once."),
                Entry::new("completions", Y::Int(world as u64)),
                Entry::new("parallelism", Y::Int(world as u64)),
                Entry::new("backoffLimit", Y::Int(0)).comment(
                    "A rank that failed cannot rejoin the computation: the Job fails with it.",
                ),
                Entry::new(
                    "template",
                    Y::Map(vec![
                        Entry::new("metadata", Y::map([("labels", labels())])),
                        Entry::new("spec", Y::Map(pod)),
                    ]),
                ),
            ]),
        ),
    ];

    let revealed: Vec<String> =
        (0..plan.parties).filter(|&r| plan.revealed(r)).map(|r| r.to_string()).collect();
    let mut header = vec![
        format!(
            "Cloak: {}, as one Kubernetes Indexed Job: pod <index> is rank <index>.",
            plan.what()
        ),
        format!("{RENDERED_BY}{}", plan.command),
        "(render it again rather than edit it by hand)".into(),
        String::new(),
        "Before `kubectl apply -f` this file: push the image (deploy/Dockerfile) where the \
         cluster pulls from, and create one Secret per rank holding that rank's TLS material \
         and no other rank's key (the directories of deploy/README.md), and the owners' \
         files. TLS is mandatory: the parties are not on loopback."
            .into(),
    ];
    for r in 0..world {
        header.push(format!(
            "  kubectl create secret generic {} --from-file=certs/rank-{r}/",
            certs_secret(r)
        ));
    }
    header.push(format!(
        "  kubectl create secret generic {model_secret} --from-file=model.onnx={}",
        shell_word(&plan.model)
    ));
    header.push(format!(
        "  kubectl create secret generic {input_secret} --from-file=input.npy={}",
        shell_word(&plan.input)
    ));
    header.push(format!(
        "(the model by the model owner, party {}, and the input by the data owner, party {}; \
         a Secret holds at most 1 MiB). Then `kubectl apply -f` this file. {} {} learn{} the \
         output; the predictions are in the log:",
        plan.roles.model_owner,
        plan.roles.data_owner,
        if revealed.len() == 1 { "Party" } else { "Parties" },
        revealed.join(", "),
        if revealed.len() == 1 { "s" } else { "" }
    ));
    for r in &revealed {
        header.push(format!(
            "  kubectl logs -l job-name={name},batch.kubernetes.io/job-completion-index={r}"
        ));
    }
    let mut out = comments(&header);
    out.push('\n');
    emit_map(&service, 0, &mut out);
    out.push_str("---\n");
    emit_map(&job, 0, &mut out);
    out
}

/// Why the Kubernetes recipe mounts per-rank Secrets the way it does (a comment in it).
const SECRETS_NOTE: [&str; 8] = [
    "Per-rank Secrets. A pod template is the same for every index, except through the",
    "environment (JOB_COMPLETION_INDEX), so it cannot name a different Secret per pod. This",
    "volume projects each rank's Secret, and the owners' files, under that rank's own",
    "directory rank-<r>/, and the container mounts only the directory of its index",
    "(subPathExpr above): a party's filesystem holds its own key and never another rank's.",
    "The node running a pod does hold the whole volume, as the cluster holds every Secret:",
    "this recipe suits parties that trust one cluster's operators with their keys; others",
    "run each rank on their own machines (deploy/README.md).",
];

// ----- a small YAML emitter -----

/// A YAML value, written in block style.
#[derive(Debug)]
enum Y {
    Str(String),
    Int(u64),
    Bool(bool),
    Map(Vec<Entry>),
    List(Vec<Y>),
    /// A list of strings on one line (`[a, b]`): a command line.
    Flow(Vec<String>),
}

/// A key, its value, and a comment written above it.
#[derive(Debug)]
struct Entry {
    key: String,
    value: Y,
    comment: String,
}

impl Entry {
    fn new(key: &str, value: Y) -> Self {
        Self { key: key.into(), value, comment: String::new() }
    }

    fn comment(mut self, text: &str) -> Self {
        self.comment = text.into();
        self
    }
}

impl Y {
    fn s(s: &str) -> Y {
        Y::Str(s.into())
    }

    fn map<const N: usize>(entries: [(&str, Y); N]) -> Y {
        Y::Map(entries.into_iter().map(|(k, v)| Entry::new(k, v)).collect())
    }
}

/// Words that YAML 1.1 readers (Kubernetes, Compose) take for something other than a string.
const NOT_STRINGS: [&str; 12] =
    ["y", "n", "yes", "no", "true", "false", "on", "off", "null", "~", ".nan", ".inf"];

/// A string scalar: plain when it cannot be read as anything else, double-quoted otherwise.
fn scalar(s: &str) -> String {
    let plain = s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '.')
        || (s.starts_with("--") && s.len() > 2);
    let plain = plain
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "_./:@-".contains(c))
        && !s.ends_with(':')
        && !NOT_STRINGS.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        return s.to_owned();
    }
    let mut q = String::from('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            c if c.is_control() => q.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

fn inline(value: &Y) -> Option<String> {
    match value {
        Y::Str(s) => Some(scalar(s)),
        Y::Int(i) => Some(i.to_string()),
        Y::Bool(b) => Some(b.to_string()),
        Y::Map(m) if m.is_empty() => Some("{}".into()),
        Y::List(l) if l.is_empty() => Some("[]".into()),
        Y::Flow(l) => {
            Some(format!("[{}]", l.iter().map(|s| scalar(s)).collect::<Vec<_>>().join(", ")))
        }
        _ => None,
    }
}

fn emit_map(entries: &[Entry], indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for e in entries {
        if !e.comment.is_empty() {
            for line in wrap(&e.comment, WIDTH.saturating_sub(indent).max(40)) {
                out.push_str(&format!("{pad}# {line}\n"));
            }
        }
        let key = scalar(&e.key);
        if let Y::Flow(items) = &e.value {
            flow(items, &format!("{pad}{key}: "), out);
            continue;
        }
        match inline(&e.value) {
            Some(v) => out.push_str(&format!("{pad}{key}: {v}\n")),
            None => {
                out.push_str(&format!("{pad}{key}:\n"));
                emit_value(&e.value, indent + 2, out);
            }
        }
    }
}

fn emit_value(value: &Y, indent: usize, out: &mut String) {
    match value {
        Y::Map(m) => emit_map(m, indent, out),
        Y::List(items) => {
            let pad = " ".repeat(indent);
            for item in items {
                match inline(item) {
                    Some(v) => out.push_str(&format!("{pad}- {v}\n")),
                    None => {
                        // The item's lines at indent + 2, the first one's indentation
                        // replaced by the dash.
                        let mut nested = String::new();
                        emit_value(item, indent + 2, &mut nested);
                        out.push_str(&pad);
                        out.push_str("- ");
                        out.push_str(&nested[indent + 2..]);
                    }
                }
            }
        }
        v => {
            let text = inline(v).unwrap_or_default();
            out.push_str(&format!("{}{text}\n", " ".repeat(indent)));
        }
    }
}

/// A flow list after `first` (`key: `), its items wrapped at 100 characters and aligned
/// after the bracket (a longer item stays whole, on a line of its own).
fn flow(items: &[String], first: &str, out: &mut String) {
    let mut line = format!("{first}[");
    let mut fresh = true;
    for (i, item) in items.iter().enumerate() {
        let word = format!("{}{}", scalar(item), if i + 1 < items.len() { "," } else { "" });
        if !fresh && line.len() + 1 + word.len() + 1 > 100 {
            out.push_str(&line);
            out.push('\n');
            line = " ".repeat(first.len() + 1);
            fresh = true;
        }
        if !fresh {
            line.push(' ');
        }
        line.push_str(&word);
        fresh = false;
    }
    out.push_str(&line);
    out.push_str("]\n");
}

/// Paragraphs as comment lines, wrapped, except the command that renders the recipe: it
/// stays on one line, to be copied (and read back by the tests), as do indented commands.
fn comments(paragraphs: &[String]) -> String {
    let mut out = String::new();
    for p in paragraphs {
        let lines = if p.starts_with(RENDERED_BY) || p.starts_with("  ") {
            vec![p.clone()]
        } else {
            wrap(p, WIDTH)
        };
        for l in lines {
            out.push_str(&if l.is_empty() { "#\n".into() } else { format!("# {l}\n") });
        }
    }
    out
}

/// The width of comment lines, the `# ` included.
const WIDTH: usize = 96;

/// Splits text into lines of at most `width - 2` characters at spaces (longer words stay
/// whole).
fn wrap(text: &str, width: usize) -> Vec<String> {
    if text.is_empty() {
        return vec![String::new()];
    }
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if !line.is_empty() && line.len() + 1 + word.len() + 2 > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_that_would_read_as_something_else_are_quoted() {
        assert_eq!(scalar("party"), "party");
        assert_eq!(scalar("--parties"), "--parties");
        assert_eq!(scalar("/cloak/model/model.onnx"), "/cloak/model/model.onnx");
        assert_eq!(
            scalar("../examples/models/digits_cnn.onnx"),
            "../examples/models/digits_cnn.onnx"
        );
        for s in [
            "2", "no", "Off", "NULL", "~", ".inf", "true", "-", "a b", "x:", "", "$(X)", "#c",
            "1e3", "a\"b\n",
        ] {
            assert!(scalar(s).starts_with('"'), "{s} -> {}", scalar(s));
        }
        assert_eq!(scalar("a\"b\n"), r#""a\"b\u000a""#);
        // Strings to YAML readers, plain for people.
        assert_eq!(scalar("None"), "None");
        assert_eq!(scalar("cloak-0.cloak"), "cloak-0.cloak");
    }

    #[test]
    fn nested_lists_and_maps_are_indented_as_block_yaml() {
        let doc = vec![Entry::new(
            "a",
            Y::List(vec![Y::map([("k", Y::s("v")), ("l", Y::List(vec![Y::Int(1)]))]), Y::s("x")]),
        )];
        let mut out = String::new();
        emit_map(&doc, 0, &mut out);
        assert_eq!(out, "a:\n  - k: v\n    l:\n      - 1\n  - x\n");
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_word("../a/b.onnx"), "../a/b.onnx");
        assert_eq!(shell_word("my model.onnx"), "'my model.onnx'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
