//! The loader: merges the layers (see the [module docs](super) for their order) into
//! [`RawSettings`], keeping each value's origin so that problems can say where it came from.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Value};
use figment::{Figment, Metadata, Source};

use super::keys::{self, SECRET_KEYS};
use super::{
    ConfigProblem, ConfigReport, ENV_PREFIX, LOCAL_PROFILE, LogFormat, RawSettings, Settings,
};

/// The `local` profile, built into every binary so that `--local` works from any directory.
/// `config/local.toml` is this text (the file documents the profile; it is the one embedded).
pub const LOCAL_PROFILE_TOML: &str = include_str!("../../../../config/local.toml");

/// Where the built-in local profile's values come from, in problems and `config show`.
const EMBEDDED_LOCAL_ORIGIN: &str = "built-in local profile (config/local.toml)";

/// What a caller says about where configuration comes from. Command-line parsers (the binaries'
/// clap arguments) convert into this; tests build it directly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// Configuration profile: reads `config/<PROFILE>.toml`; else `SAM_PROFILE`, else none.
    /// The `local` profile is built in when the configuration directory has no `local.toml`.
    pub profile: Option<String>,
    /// An extra configuration file, applied after the profile's file.
    pub config_file: Option<PathBuf>,
    /// Directory holding `default.toml` and the profile files (`config` by default).
    pub config_dir: PathBuf,
    /// Overrides of single keys, `KEY=VALUE` (applied last, in order).
    pub set: Vec<String>,
    /// Log format, overriding `log.format`.
    pub log_format: Option<LogFormat>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            profile: None,
            config_file: None,
            config_dir: PathBuf::from("config"),
            set: Vec::new(),
            log_format: None,
        }
    }
}

/// The merged layers, kept so that problems can say where each value came from.
#[derive(Debug)]
pub struct Loaded {
    figment: Figment,
    /// The merged raw values.
    pub raw: RawSettings,
    /// The profile in effect, if one was named (`--profile`, `SAM_PROFILE` or `--local`).
    pub profile: Option<String>,
}

impl Loaded {
    /// Validates into typed settings, or reports every problem.
    pub fn validate(&self) -> Result<Settings, ConfigReport> {
        let mut settings = self.raw.validate_with(&|key| self.origin(key))?;
        settings.profile.clone_from(&self.profile);
        Ok(settings)
    }

    /// Where the value of a dotted key came from.
    pub fn origin(&self, key: &str) -> String {
        origin_of(&self.figment, key)
    }
}

/// Loads and merges every layer (see the module docs for the order). Errors here are structural
/// (unreadable file, TOML syntax, a value of the wrong type); value problems come from
/// [`Loaded::validate`].
pub fn load(options: &LoadOptions) -> Result<Loaded, ConfigReport> {
    load_with_env(options, std::env::var("SAM_PROFILE").ok())
}

/// [`load`], with the value of `SAM_PROFILE` given (tests).
pub(crate) fn load_with_env(
    options: &LoadOptions,
    env_profile: Option<String>,
) -> Result<Loaded, ConfigReport> {
    let profile = resolve_profile(options, env_profile)?;
    let mut problems = Vec::new();
    let mut layers = vec!["built-in default".to_owned()];
    let mut figment = file_layers(options, profile.as_ref(), &mut layers, &mut problems);
    figment = figment.merge(env_layer());
    let flags = flag_layer(options, &mut problems);
    if !flags.is_empty() {
        figment = figment.merge(FlagsProvider(flags));
    }

    problems.extend(unknown_keys(&figment));
    let mut raw = match figment.extract::<RawSettings>() {
        Ok(raw) => raw,
        Err(errors) => {
            problems.extend(errors.into_iter().map(|e| type_problem(&figment, e)));
            return Err(ConfigReport { problems });
        }
    };
    // Relative paths written in a file resolve against that file (module `paths`).
    super::paths::resolve(&figment, &mut raw, &options.config_dir);
    problems.extend(cloud_layer_problems(&figment, &raw, &layers));
    if !problems.is_empty() {
        return Err(ConfigReport { problems });
    }
    Ok(Loaded {
        figment,
        raw,
        profile: profile.map(|(name, _)| name),
    })
}

/// Endpoint URLs set in a lower layer than the one that chose a named (non-`custom`) cloud:
/// e.g. the local profile's emulator URLs under a production file's `cloud.name = "global"`.
/// They would silently point the named cloud elsewhere, so they are an error.
fn cloud_layer_problems(
    figment: &Figment,
    raw: &RawSettings,
    layers: &[String],
) -> Vec<ConfigProblem> {
    if raw.cloud.name.trim().eq_ignore_ascii_case("custom") {
        return Vec::new();
    }
    let rank = |key: &str| layer_rank(&origin_of(figment, key), layers);
    let name_origin = origin_of(figment, "cloud.name");
    let name_rank = rank("cloud.name");
    [
        ("cloud.authority_host", &raw.cloud.authority_host),
        ("cloud.graph_url", &raw.cloud.graph_url),
        ("cloud.graph_audience", &raw.cloud.graph_audience),
        ("cloud.partner_center_url", &raw.cloud.partner_center_url),
        (
            "cloud.partner_center_audience",
            &raw.cloud.partner_center_audience,
        ),
        (
            "cloud.key_vault_dns_suffix",
            &raw.cloud.key_vault_dns_suffix,
        ),
    ]
    .into_iter()
    .filter(|(key, value)| !value.trim().is_empty() && rank(key) < name_rank)
    .map(|(key, value)| ConfigProblem {
        key: key.into(),
        origin: origin_of(figment, key),
        problem: format!(
            "{value} was set by {}, but cloud.name = {:?} was chosen later by {name_origin}; \
             the {:?} cloud would silently use this endpoint",
            origin_of(figment, key),
            raw.cloud.name.trim(),
            raw.cloud.name.trim(),
        ),
        fix: format!(
            "set {key} in the same place as cloud.name ({name_origin}), or do not apply the \
             layer that sets it (e.g. drop --profile local / SAM_PROFILE for production)"
        ),
    })
    .collect()
}

/// The position of an origin among the layers (environment and flags above every file).
fn layer_rank(origin: &str, layers: &[String]) -> usize {
    if origin.starts_with("command-line flag") {
        return layers.len() + 1;
    }
    if origin.starts_with("environment variable") {
        return layers.len();
    }
    layers.iter().position(|l| l == origin).unwrap_or(0)
}

/// The profile in effect, if any, and who named it.
fn resolve_profile(
    options: &LoadOptions,
    env_profile: Option<String>,
) -> Result<Option<(String, &'static str)>, ConfigReport> {
    let (profile, origin) = match (
        &options.profile,
        env_profile.filter(|p| !p.trim().is_empty()),
    ) {
        (Some(p), _) => (p.clone(), "--profile"),
        (None, Some(p)) => (p, "SAM_PROFILE"),
        (None, None) => return Ok(None),
    };
    let valid = !profile.is_empty()
        && profile
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        return Ok(Some((profile, origin)));
    }
    Err(ConfigReport {
        problems: vec![ConfigProblem {
            key: "profile".into(),
            origin: origin.into(),
            problem: format!("{profile:?} is not a valid profile name"),
            fix: "use letters, digits, '-' and '_' only (the name of a file config/<profile>.toml)"
                .into(),
        }],
    })
}

/// Layers 1–4: built-in defaults, `default.toml`, the profile's file, `--config FILE`.
fn file_layers(
    options: &LoadOptions,
    profile: Option<&(String, &'static str)>,
    layers: &mut Vec<String>,
    problems: &mut Vec<ConfigProblem>,
) -> Figment {
    let mut figment = Figment::from(Serialized::defaults(RawSettings::default()));
    let default_file = options.config_dir.join("default.toml");
    if default_file.is_file() {
        layers.push(file_origin(&default_file));
        figment = figment.merge(Toml::file_exact(&default_file));
    }
    let Some((profile, origin)) = profile else {
        return config_file_layer(figment, options, layers, problems);
    };
    let profile_file = options.config_dir.join(format!("{profile}.toml"));
    if profile_file.is_file() {
        layers.push(file_origin(&profile_file));
        figment = figment.merge(Toml::file_exact(&profile_file));
    } else if profile == LOCAL_PROFILE {
        layers.push(EMBEDDED_LOCAL_ORIGIN.to_owned());
        figment = figment.merge(EmbeddedLocal);
    } else {
        problems.push(ConfigProblem {
            key: "profile".into(),
            origin: (*origin).into(),
            problem: format!("profile {profile:?} has no file {}", profile_file.display()),
            fix: format!(
                "create {} or choose an existing profile (files in {})",
                profile_file.display(),
                options.config_dir.display()
            ),
        });
    }
    config_file_layer(figment, options, layers, problems)
}

/// Layer 4: `--config FILE`.
fn config_file_layer(
    mut figment: Figment,
    options: &LoadOptions,
    layers: &mut Vec<String>,
    problems: &mut Vec<ConfigProblem>,
) -> Figment {
    if let Some(file) = &options.config_file {
        if file.is_file() {
            layers.push(file_origin(file));
            figment = figment.merge(Toml::file_exact(file));
        } else {
            problems.push(ConfigProblem {
                key: "--config".into(),
                origin: "command line".into(),
                problem: format!(
                    "the file {} does not exist or is not a regular file",
                    file.display()
                ),
                fix: "pass the path of an existing TOML file".into(),
            });
        }
    }
    figment
}

/// Layer 5: `SAM_*` environment variables.
fn env_layer() -> Env {
    // Only variables naming one of our sections are configuration; other `SAM_*` variables
    // belong to companion tools (the emulator's `SAM_EMULATOR_*`, the test harness's
    // `SAM_TEST_*`). A misspelt key inside a section is still reported.
    let sections = keys::top_level_keys();
    Env::prefixed(ENV_PREFIX)
        .split("__")
        .ignore(&["profile"])
        .filter(move |key| {
            let first = key.as_str().split('.').next().unwrap_or_default();
            sections.contains(&first.to_ascii_lowercase())
        })
}

/// Layer 6: `--set KEY=VALUE` and `--log-format`.
fn flag_layer(options: &LoadOptions, problems: &mut Vec<ConfigProblem>) -> Dict {
    let mut flags = Dict::new();
    for item in &options.set {
        match item.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                insert_dotted(&mut flags, key.trim(), value.to_owned());
            }
            _ => problems.push(ConfigProblem {
                key: "--set".into(),
                origin: "command line".into(),
                problem: format!("{:?} is not of the form KEY=VALUE", redact_flag(item)),
                fix: "write --set section.key=value, e.g. --set cloud.name=china".into(),
            }),
        }
    }
    if let Some(format) = options.log_format {
        insert_dotted(&mut flags, "log.format", format.to_string());
    }
    flags
}

/// A value of the wrong type, or a file that is not TOML. A secret key's value is never echoed
/// (figment's message quotes it: "found unsigned int `123456`"); a numeric or boolean value given
/// to a string key through the environment is a common cause, so the fix says how to quote it.
fn type_problem(figment: &Figment, e: figment::Error) -> ConfigProblem {
    let key = e.path.join(".");
    let origin = e
        .metadata
        .as_ref()
        .map_or_else(|| origin_of(figment, &key), |m| describe_metadata(m, &key));
    let secret = super::keys::is_secret_key(&key);
    let problem = match &e.kind {
        figment::error::Kind::InvalidType(actual, expected) if secret => format!(
            "invalid type: found {}, expected {expected} (the value is not shown: the key holds a secret)",
            kind_of(actual)
        ),
        _ if secret => "is not valid here (the value is not shown: the key holds a secret)".into(),
        kind => kind.to_string(),
    };
    let fix = if origin.contains("environment variable") {
        format!(
            "quote a value that looks like a number or a boolean, e.g. {}='\"…\"'; lists as [\"a\", \"b\"]",
            super::keys::env_var_of(&key)
        )
    } else {
        "correct the value's type (strings in quotes, lists in [ ]) or the file's TOML syntax"
            .into()
    };
    ConfigProblem {
        key: if key.is_empty() { "(file)".into() } else { key },
        origin,
        problem,
        fix,
    }
}

/// The kind of a value, without the value ("unsigned int", "bool", …).
fn kind_of(actual: &figment::error::Actual) -> &'static str {
    use figment::error::Actual;
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a number",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Seq => "a list",
        Actual::Map => "a table",
        _ => "another type",
    }
}

fn redact_flag(item: &str) -> String {
    let lower = item.to_ascii_lowercase();
    if SECRET_KEYS.iter().any(|k| lower.starts_with(k))
        || lower.contains("secret")
        || lower.contains("password")
    {
        "[redacted]".into()
    } else {
        item.to_owned()
    }
}

fn insert_dotted(dict: &mut Dict, key: &str, value: String) {
    let mut parts = key
        .split('.')
        .map(|p| p.trim().to_ascii_lowercase())
        .collect::<Vec<_>>();
    let last = parts.pop().unwrap_or_default();
    let mut cursor = dict;
    for part in parts {
        let entry = cursor
            .entry(part)
            .or_insert_with(|| Value::from(Dict::new()));
        if entry.as_dict().is_none() {
            *entry = Value::from(Dict::new());
        }
        cursor = match entry {
            Value::Dict(_, d) => d,
            _ => unreachable!("entry was just made a dictionary"),
        };
    }
    cursor.insert(last, Value::from(value));
}

/// How a file's values are attributed (as [`describe_metadata`] does).
fn file_origin(path: &Path) -> String {
    display_path(path)
}

/// The built-in local profile, as a provider whose values say where they came from.
struct EmbeddedLocal;

impl figment::Provider for EmbeddedLocal {
    fn metadata(&self) -> Metadata {
        Metadata::named(EMBEDDED_LOCAL_ORIGIN).source(Source::Custom(EMBEDDED_LOCAL_ORIGIN.into()))
    }

    fn data(&self) -> Result<figment::value::Map<figment::Profile, Dict>, figment::Error> {
        Toml::string(LOCAL_PROFILE_TOML).data()
    }
}

/// Command-line `--set` values, as a provider whose metadata says "command-line flag".
struct FlagsProvider(Dict);

impl figment::Provider for FlagsProvider {
    fn metadata(&self) -> Metadata {
        Metadata::named("command-line flag").source(Source::Custom("command line".into()))
    }

    fn data(&self) -> Result<figment::value::Map<figment::Profile, Dict>, figment::Error> {
        Ok(figment::Profile::Default.collect(self.0.clone()))
    }
}

fn origin_of(figment: &Figment, key: &str) -> String {
    match figment.find_metadata(key) {
        Some(m) => describe_metadata(m, key),
        None => "built-in default".into(),
    }
}

fn describe_metadata(metadata: &Metadata, key: &str) -> String {
    match &metadata.source {
        Some(Source::File(path)) => display_path(path),
        Some(Source::Custom(s)) if s == "command line" => {
            format!("command-line flag --set {key}=…")
        }
        Some(Source::Custom(s)) => s.clone(),
        Some(Source::Code(_)) => "built-in default".into(),
        None if metadata.name.contains("environment") => {
            format!("environment variable {}", keys::env_var_of(key))
        }
        None => metadata.name.to_string(),
        Some(_) => metadata.name.to_string(),
    }
}

fn display_path(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

fn unknown_keys(figment: &Figment) -> Vec<ConfigProblem> {
    let known = keys::known_keys();
    let sections = keys::sections(&known);
    let Ok(Value::Dict(_, dict)) = figment
        .find_value("")
        .or_else(|_| figment.extract::<Value>())
    else {
        return Vec::new();
    };
    let mut found = Vec::new();
    walk_dict(&dict, String::new(), &mut found);
    found
        .into_iter()
        .filter(|k| {
            let generic = keys::generic_key(k);
            !known.contains(&generic) && !sections.contains(&generic)
        })
        .map(|key| ConfigProblem {
            origin: origin_of(figment, &key),
            problem: "unknown key".into(),
            fix: match keys::closest(&key, &known) {
                Some(s) => format!(
                    "did you mean `{s}`? Otherwise remove it (keys are listed in config/default.toml)"
                ),
                None => "remove it; every valid key is listed in config/default.toml".into(),
            },
            key,
        })
        .collect()
}

fn walk_dict(dict: &Dict, prefix: String, out: &mut Vec<String>) {
    for (k, v) in dict {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Dict(_, d) => walk_dict(d, key, out),
            _ => out.push(key),
        }
    }
}
