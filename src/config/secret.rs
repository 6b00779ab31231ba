//! The API secret key and where it comes from (a file, the config, the environment): read
//! only when the daemon starts talking to the API, and never shown.

use std::fmt;
use std::path::{Path, PathBuf};

use super::file::{OpenError, open_regular};

/// The environment variable that may hold the API secret key.
pub const SECRET_KEY_ENV: &str = "WEMEET_SECRET_KEY";

/// Where systemd hands a service the credentials of its `LoadCredential=` lines.
pub const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

/// How a config names a systemd credential: `${CREDENTIALS_DIRECTORY}/NAME`, at the start of
/// `secret_key_file` or `url_file`.
pub const CREDENTIAL_PREFIX: &str = "${CREDENTIALS_DIRECTORY}/";

/// Where the API secret key comes from. It is read only when the daemon starts talking to the
/// API, so `validate` and `plan` work without it.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `api.secret_key_file` (or a notify target's `url_file`).
    File(PathBuf),
    /// `${CREDENTIALS_DIRECTORY}/NAME`: the systemd credential NAME, in the directory systemd
    /// names in that variable when the daemon runs (systemd.io/CREDENTIALS: "the path to
    /// access them is derived from the environment variable $CREDENTIALS_DIRECTORY").
    Credential(String),
    /// `api.secret_key` inline (the config must then be readable by its owner only).
    Inline(SecretKey),
    /// Neither is set: the `WEMEET_SECRET_KEY` environment variable.
    Env,
    /// This environment variable (a notify target's `url_env`).
    Var(String),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::File(p) => f.debug_tuple("File").field(p).finish(),
            SecretSource::Credential(n) => f.debug_tuple("Credential").field(n).finish(),
            SecretSource::Inline(_) => f.write_str("Inline(<redacted>)"),
            SecretSource::Env => f.write_str("Env"),
            SecretSource::Var(v) => f.debug_tuple("Var").field(v).finish(),
        }
    }
}

/// The API secret key. Its `Debug` and `Display` never show it; only [`SecretKey::expose`]
/// does, for the signer.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    pub fn new(key: impl Into<String>) -> Self {
        SecretKey(key.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// Why the secret key could not be had. No variant carries any part of the key.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read the secret from {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the secret file {path} is empty")]
    Empty { path: PathBuf },
    #[error("the secret file {path} is not a regular file")]
    NotAFile { path: PathBuf },
    #[error("the secret file {path} is larger than {MAX_SECRET_KEY_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error(
        "the secret file {path} is readable by group or others (mode {mode:o}); run `chmod 600` on it"
    )]
    Readable { path: PathBuf, mode: u32 },
    #[error(
        "no API secret key: set api.secret_key_file (or api.secret_key) in the config, or the WEMEET_SECRET_KEY environment variable"
    )]
    Missing,
    #[error("the environment variable {var} is not set, or empty")]
    MissingVar { var: String },
    #[error(
        "cannot read the credential {name}: {CREDENTIALS_DIRECTORY} is not set (systemd sets it for a unit with LoadCredential=)"
    )]
    NoCredentials { name: String },
}

impl SecretError {
    /// The key file does not exist (yet), or names a credential outside the service:
    /// `validate` on a machine other than the server.
    pub fn is_missing_file(&self) -> bool {
        match self {
            SecretError::File { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
            SecretError::NoCredentials { .. } => true,
            _ => false,
        }
    }
}

/// A key file larger than this is not a key (`/dev/zero`, a log file named by mistake).
pub const MAX_SECRET_KEY_BYTES: u64 = 4096;

impl SecretSource {
    /// A file's source as the config names it: `${CREDENTIALS_DIRECTORY}/NAME`, or a path
    /// (relative: from `base`, the config's directory). `None` when it names no credential
    /// (a `/` in NAME, or none at all): a credential is one file of that directory.
    pub fn file(base: &Path, named: &str) -> Option<SecretSource> {
        match named.strip_prefix(CREDENTIAL_PREFIX) {
            Some(name)
                if !name.is_empty() && !name.contains('/') && name != "." && name != ".." =>
            {
                Some(SecretSource::Credential(name.to_string()))
            }
            Some(_) => None,
            None => Some(SecretSource::File(base.join(named))),
        }
    }

    /// The file it reads from, where there is one (a credential's only under systemd).
    pub fn path(&self) -> Option<PathBuf> {
        match self {
            SecretSource::File(p) => Some(p.clone()),
            SecretSource::Credential(name) => std::env::var_os(CREDENTIALS_DIRECTORY)
                .filter(|d| !d.is_empty())
                .map(|d| Path::new(&d).join(name)),
            SecretSource::Inline(_) | SecretSource::Env | SecretSource::Var(_) => None,
        }
    }

    /// Reads the key. A key file must be a regular file of at most 4 KiB, readable by its
    /// owner only; its trailing newline is not part of the key.
    pub fn load(&self) -> Result<SecretKey, SecretError> {
        match self {
            SecretSource::Inline(key) => Ok(key.clone()),
            SecretSource::File(path) => read_key_file(path),
            SecretSource::Credential(name) => match std::env::var_os(CREDENTIALS_DIRECTORY) {
                Some(dir) if !dir.is_empty() => read_key_file(&Path::new(&dir).join(name)),
                _ => Err(SecretError::NoCredentials { name: name.clone() }),
            },
            SecretSource::Env => match std::env::var(SECRET_KEY_ENV) {
                Ok(key) if !key.is_empty() => Ok(SecretKey::new(key)),
                _ => Err(SecretError::Missing),
            },
            SecretSource::Var(var) => match std::env::var(var) {
                Ok(key) if !key.is_empty() => Ok(SecretKey::new(key)),
                _ => Err(SecretError::MissingVar { var: var.clone() }),
            },
        }
    }
}

fn read_key_file(path: &Path) -> Result<SecretKey, SecretError> {
    use std::io::Read as _;
    let io = |source| SecretError::File {
        path: path.to_path_buf(),
        source,
    };
    let (file, meta) = open_regular(path).map_err(|e| match e {
        OpenError::Io(e) => io(e),
        OpenError::NotAFile => SecretError::NotAFile { path: path.into() },
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SecretError::Readable {
                path: path.into(),
                mode,
            });
        }
    }
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_KEY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_SECRET_KEY_BYTES {
        return Err(SecretError::TooLarge { path: path.into() });
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not UTF-8 text",
        ))
    })?;
    let key = text.trim_end_matches(['\n', '\r']);
    if key.is_empty() {
        return Err(SecretError::Empty { path: path.into() });
    }
    Ok(SecretKey::new(key))
}
