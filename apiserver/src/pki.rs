//! The cluster's certificates: a CA, the API server's serving certificate
//! and the administrator's client certificate, generated on first start,
//! kept in the data directory and reused; and the admin kubeconfig.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// Why the certificates could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot read or write {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot generate or parse a certificate or key in {path}")]
    Certificate {
        path: String,
        #[source]
        source: rcgen::Error,
    },
}

/// The PEM files of the cluster's certificates.
#[derive(Debug, Clone)]
pub struct Pki {
    pub dir: PathBuf,
    pub ca_cert: String,
    pub serving_cert: String,
    pub serving_key: String,
    pub admin_cert: String,
    pub admin_key: String,
    ca_key: String,
}

const CA_VALIDITY_DAYS: i64 = 3650;
const LEAF_VALIDITY_DAYS: i64 = 365;

fn io(path: &Path) -> impl Fn(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io { path: path.display().to_string(), source }
}

fn cert_error(path: &Path) -> impl Fn(rcgen::Error) -> PkiError + '_ {
    move |source| PkiError::Certificate { path: path.display().to_string(), source }
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - Duration::from_secs(3600);
    params.not_after = now + Duration::from_secs(days as u64 * 86_400);
}

impl Pki {
    /// Loads the certificates from `dir`, creating what is missing; the
    /// serving certificate is made again when `hosts` (its SANs) changed.
    pub fn load_or_create(dir: &Path, hosts: &[String]) -> Result<Self, PkiError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let file = |name: &str| dir.join(name);
        let read = |name: &str| std::fs::read_to_string(file(name)).ok();
        let write = |name: &str, contents: &str| -> Result<(), PkiError> {
            let path = file(name);
            std::fs::write(&path, contents).map_err(io(&path))?;
            restrict(&path, name.ends_with(".key"))
        };

        let (ca_cert, ca_key) = match (read("server-ca.crt"), read("server-ca.key")) {
            (Some(cert), Some(key)) => (cert, key),
            _ => {
                let key = KeyPair::generate().map_err(cert_error(dir))?;
                let mut params = CertificateParams::default();
                params.distinguished_name = name("skiff-server-ca", None);
                params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                params.key_usages =
                    vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
                validity(&mut params, CA_VALIDITY_DAYS);
                let cert = params.self_signed(&key).map_err(cert_error(dir))?;
                write("server-ca.crt", &cert.pem())?;
                write("server-ca.key", &key.serialize_pem())?;
                (cert.pem(), key.serialize_pem())
            }
        };
        let ca_path = file("server-ca.crt");
        let ca_signing = KeyPair::from_pem(&ca_key).map_err(cert_error(&ca_path))?;
        let issuer = Issuer::from_ca_cert_pem(&ca_cert, ca_signing).map_err(cert_error(&ca_path))?;

        let sans = hosts.join(",");
        let (serving_cert, serving_key) = match (read("serving.crt"), read("serving.key"), read("serving.hosts")) {
            (Some(cert), Some(key), Some(known)) if known == sans => (cert, key),
            _ => {
                let (cert, key) =
                    leaf(&issuer, "kube-apiserver", None, hosts, ExtendedKeyUsagePurpose::ServerAuth, dir)?;
                write("serving.crt", &cert)?;
                write("serving.key", &key)?;
                write("serving.hosts", &sans)?;
                (cert, key)
            }
        };
        let (admin_cert, admin_key) = match (read("client-admin.crt"), read("client-admin.key")) {
            (Some(cert), Some(key)) => (cert, key),
            _ => {
                let (cert, key) = leaf(
                    &issuer,
                    "system:admin",
                    Some("system:masters"),
                    &[],
                    ExtendedKeyUsagePurpose::ClientAuth,
                    dir,
                )?;
                write("client-admin.crt", &cert)?;
                write("client-admin.key", &key)?;
                (cert, key)
            }
        };
        Ok(Self { dir: dir.to_owned(), ca_cert, ca_key, serving_cert, serving_key, admin_cert, admin_key })
    }

    /// A client certificate for `user` in `groups`, signed by the cluster CA.
    pub fn issue_client(&self, user: &str, group: Option<&str>) -> Result<(String, String), PkiError> {
        let ca_path = self.dir.join("server-ca.crt");
        let signing = KeyPair::from_pem(&self.ca_key).map_err(cert_error(&ca_path))?;
        let issuer = Issuer::from_ca_cert_pem(&self.ca_cert, signing).map_err(cert_error(&ca_path))?;
        leaf(&issuer, user, group, &[], ExtendedKeyUsagePurpose::ClientAuth, &self.dir)
    }

    /// A serving certificate for `hosts` (names and IPs) with subject `common_name`/`organization`, signed by the cluster CA.
    pub fn issue_serving(
        &self,
        common_name: &str,
        organization: Option<&str>,
        hosts: &[String],
    ) -> Result<(String, String), PkiError> {
        let ca_path = self.dir.join("server-ca.crt");
        let signing = KeyPair::from_pem(&self.ca_key).map_err(cert_error(&ca_path))?;
        let issuer = Issuer::from_ca_cert_pem(&self.ca_cert, signing).map_err(cert_error(&ca_path))?;
        leaf(&issuer, common_name, organization, hosts, ExtendedKeyUsagePurpose::ServerAuth, &self.dir)
    }

    /// A kubeconfig for the administrator, verifying the server with the CA.
    pub fn admin_kubeconfig(&self, server: &str) -> String {
        kubeconfig(server, &self.ca_cert, &self.admin_cert, &self.admin_key)
    }
}

/// A kubeconfig with one cluster, user and context, all named `default` (as k3s writes it).
pub fn kubeconfig(server: &str, ca: &str, cert: &str, key: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {server}\n  name: default\n\
         contexts:\n- context:\n    cluster: default\n    user: default\n  name: default\ncurrent-context: default\n\
         preferences: {{}}\nusers:\n- name: default\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        BASE64.encode(ca),
        BASE64.encode(cert),
        BASE64.encode(key),
    )
}

fn name(common_name: &str, organization: Option<&str>) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    if let Some(org) = organization {
        name.push(DnType::OrganizationName, org);
    }
    name.push(DnType::CommonName, common_name);
    name
}

/// A leaf certificate and its key (PEM), signed by the CA.
fn leaf(
    issuer: &Issuer<'_, KeyPair>,
    common_name: &str,
    organization: Option<&str>,
    hosts: &[String],
    usage: ExtendedKeyUsagePurpose,
    dir: &Path,
) -> Result<(String, String), PkiError> {
    let key = KeyPair::generate().map_err(cert_error(dir))?;
    let mut params = CertificateParams::new(hosts.to_vec()).map_err(cert_error(dir))?;
    params.distinguished_name = name(common_name, organization);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![usage];
    validity(&mut params, LEAF_VALIDITY_DAYS);
    let cert = params.signed_by(&key, issuer).map_err(cert_error(dir))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Keys are readable by their owner only.
fn restrict(path: &Path, secret: bool) -> Result<(), PkiError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if secret { 0o600 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io(path))
}
