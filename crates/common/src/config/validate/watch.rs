//! `[watch.console]`: the watch's operator console, signed in with Entra ID.

use super::checker::{Checker, set};
use crate::config::{ConsoleSettings, RawSettings, WatchSettings};
use crate::secret::ClientSecret;

impl RawSettings {
    /// `[watch]`: the console is off without `watch.console.redirect_url`; with it, the read and
    /// write access are required, and a console app other than `app.client_id` needs its secret.
    pub(super) fn validate_watch(&self, c: &mut Checker<'_>) -> WatchSettings {
        let raw = &self.watch.console;
        let Some(redirect) = set(&raw.redirect_url) else {
            return WatchSettings { console: None };
        };
        let redirect_url = c.url(
            "watch.console.redirect_url",
            redirect,
            "set it to the console's redirect URL registered on its app (Authentication > Web > Redirect URIs), e.g. https://watch.contoso.com/auth/callback, or leave it empty to turn the console off",
        );
        if let Some(u) = &redirect_url {
            let loopback = u
                .host_str()
                .is_some_and(|h| h == "localhost" || h == "127.0.0.1" || h == "[::1]");
            if u.scheme() == "http" && !loopback {
                c.fail(
                    "watch.console.redirect_url",
                    format!("{u} uses http on a host other than localhost"),
                    "Entra ID accepts http redirect URLs only on localhost; serve the console over https (a TLS-terminating ingress)",
                );
            }
            if u.path() != "/auth/callback" {
                c.fail(
                    "watch.console.redirect_url",
                    format!("{u} does not end in /auth/callback"),
                    "the console receives the sign-in at /auth/callback of its origin: register and configure https://<console host>/auth/callback",
                );
            }
        }
        let mut access = |key: &str, value: &str| {
            let v = set(value).map(str::to_owned);
            if v.is_none() {
                c.fail(
                    key,
                    "is empty while the console is on",
                    "name an app role value of the console's app (in the ID token's roles claim) or a group object ID (groups claim)",
                );
            }
            v
        };
        let read_access = access("watch.console.read_access", &raw.read_access);
        let write_access = access("watch.console.write_access", &raw.write_access);
        let client = match (set(&raw.client_id), set(&raw.client_secret)) {
            (None, None) => Some(None),
            (Some(id), _)
                if Some(id) == set(&self.app.client_id) && set(&raw.client_secret).is_none() =>
            {
                Some(None)
            }
            (Some(id), Some(secret)) => {
                if uuid::Uuid::parse_str(id).is_err() {
                    c.fail(
                        "watch.console.client_id",
                        format!("{id:?} is not a GUID"),
                        "give the application (client) ID of the console's app registration",
                    );
                }
                Some(Some((id.to_owned(), ClientSecret::new(secret.to_owned()))))
            }
            (Some(_), None) => {
                c.fail(
                    "watch.console.client_secret",
                    "is empty while watch.console.client_id names another app than app.client_id",
                    "set SAM_WATCH__CONSOLE__CLIENT_SECRET to that app's client secret, or leave watch.console.client_id empty to sign operators in to the CSP/CPV app",
                );
                None
            }
            (None, Some(_)) => {
                c.fail(
                    "watch.console.client_secret",
                    "is set without watch.console.client_id",
                    "set watch.console.client_id to the app the secret belongs to, or remove the secret",
                );
                None
            }
        };
        let idle_timeout = c.duration("watch.console.idle_timeout", &raw.idle_timeout);
        match (
            redirect_url,
            read_access,
            write_access,
            client,
            idle_timeout,
        ) {
            (
                Some(redirect_url),
                Some(read_access),
                Some(write_access),
                Some(client),
                Some(idle_timeout),
            ) => WatchSettings {
                console: Some(ConsoleSettings {
                    redirect_url,
                    client,
                    read_access,
                    write_access,
                    idle_timeout,
                }),
            },
            _ => WatchSettings { console: None },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &RawSettings) -> (WatchSettings, Vec<String>) {
        let origin = |_: &str| "test".to_owned();
        let mut c = Checker::new(&origin);
        let watch = raw.validate_watch(&mut c);
        let keys = c.problems.iter().map(|p| p.key.clone()).collect();
        (watch, keys)
    }

    #[test]
    fn the_console_is_off_without_a_redirect_url() {
        let (watch, problems) = check(&RawSettings::default());
        assert!(watch.console.is_none());
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn the_console_needs_its_access_values_an_https_or_loopback_callback_and_its_secret() {
        let mut raw = RawSettings::default();
        raw.watch.console.redirect_url = "http://watch.contoso.com/callback".into();
        raw.watch.console.client_id = "40000000-0000-4000-8000-000000000005".into();
        let (watch, problems) = check(&raw);
        assert!(watch.console.is_none());
        assert_eq!(
            problems,
            [
                "watch.console.redirect_url",
                "watch.console.redirect_url",
                "watch.console.read_access",
                "watch.console.write_access",
                "watch.console.client_secret",
            ]
        );

        raw.watch.console.redirect_url = "http://127.0.0.1:9464/auth/callback".into();
        raw.watch.console.client_secret = "s".into();
        raw.watch.console.read_access = "Console.Read".into();
        raw.watch.console.write_access = "Console.Operate".into();
        let (watch, problems) = check(&raw);
        assert!(problems.is_empty(), "{problems:?}");
        let console = watch.console.unwrap();
        assert!(!console.secure());
        assert_eq!(console.idle_timeout, std::time::Duration::from_secs(900));
        assert_eq!(
            console.client.unwrap().0,
            "40000000-0000-4000-8000-000000000005"
        );
        assert!(!format!("{:?}", raw.watch.console).contains("\"s\""));
    }
}
