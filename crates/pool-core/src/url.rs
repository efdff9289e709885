//! [`UrlParts`]: a connection URL taken apart by hand, so that a connector can say which
//! part of a URL its driver refused.

/// The parts of a connection URL, `scheme://user:password@host:port/path?query#fragment`,
/// as written (nothing is percent-decoded).
///
/// Drivers often refuse a URL with a message that does not say what is wrong ("invalid
/// port number", "Redis URL did not parse"); [`parse`](UrlParts::parse) says which part
/// and what was expected, for a [`UrlError`](crate::UrlError).
///
/// ```
/// use pool_core::UrlParts;
///
/// let parts = UrlParts::parse("mysql://root:pw@127.0.0.1:3306/test?x=1", &["mysql"]).unwrap();
/// assert_eq!((parts.user, parts.password, parts.host), ("root", Some("pw"), "127.0.0.1"));
/// assert_eq!((parts.port, parts.path, parts.query), (Some(3306), "/test", "x=1"));
///
/// let wrong = UrlParts::parse("mysql://root@127.0.0.1:notaport/test", &["mysql"]);
/// assert_eq!(wrong.unwrap_err(), "the port `notaport` is not a number");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct UrlParts<'a> {
    /// The scheme, as written (`mysql`).
    pub scheme: &'a str,
    /// The user name; empty when there is none.
    pub user: &'a str,
    /// The password, if the URL has one.
    pub password: Option<&'a str>,
    /// The host as written, IPv6 addresses in brackets; empty when there is none.
    pub host: &'a str,
    /// The port, if the URL names one.
    pub port: Option<u16>,
    /// The path, with its leading `/`; empty when there is none.
    pub path: &'a str,
    /// The query, without its `?`; empty when there is none.
    pub query: &'a str,
}

impl<'a> UrlParts<'a> {
    /// Takes `url` apart, checking that its scheme is one of `schemes` (compared without
    /// case), that `//` follows it, that the host holds no character a host cannot, and
    /// that the port is a number from 0 to 65535.
    ///
    /// # Errors
    ///
    /// A sentence saying which part is wrong and what was expected, to follow
    /// `invalid ... URL "...": `.
    pub fn parse(url: &'a str, schemes: &[&str]) -> Result<Self, String> {
        let expected = || match schemes {
            [one] => format!("`{one}`"),
            _ => format!(
                "one of {}",
                schemes.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
            ),
        };
        let scheme_like = |s: &str| {
            s.starts_with(|c: char| c.is_ascii_alphabetic())
                && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        };
        let (scheme, rest) = match url.split_once(':') {
            Some((scheme, rest)) if scheme_like(scheme) => (scheme, rest),
            _ => {
                return Err(format!(
                    "it does not start with a scheme (expected {}, as in `{}://`)",
                    expected(),
                    schemes.first().copied().unwrap_or("scheme")
                ))
            }
        };
        if !schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
            return Err(format!("the scheme `{scheme}` is not {}", expected()));
        }
        let Some(rest) = rest.strip_prefix("//") else {
            return Err(format!("`{scheme}:` is not followed by `//`"));
        };
        let (rest, _fragment) = rest.split_once('#').unwrap_or((rest, ""));
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
        let (userinfo, hostport) = authority.rsplit_once('@').unwrap_or(("", authority));
        let (user, password) = match userinfo.split_once(':') {
            Some((user, password)) => (user, Some(password)),
            None => (userinfo, None),
        };
        let (host, port) = split_host_port(hostport)?;
        let bad = |c: char| c.is_whitespace() || c.is_control() || "<>\"\\^`{|}%@[]".contains(c);
        let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        if let Some(c) = bare.chars().find(|&c| bad(c)) {
            return Err(format!("the host `{host}` holds {c:?}, which no host name holds"));
        }
        let port = match port {
            None | Some("") => None,
            Some(port) if !port.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(format!("the port `{port}` is not a number"))
            }
            Some(port) => Some(
                port.parse::<u16>()
                    .map_err(|_| format!("the port `{port}` is out of range (0 to 65535)"))?,
            ),
        };
        Ok(UrlParts { scheme, user, password, host, port, path, query })
    }

    /// These parts, or "the host is missing" when the URL names no host.
    ///
    /// # Errors
    ///
    /// That sentence, when [`host`](Self::host) is empty.
    pub fn with_host(self) -> Result<Self, String> {
        if self.host.is_empty() {
            return Err("the host is missing".to_owned());
        }
        Ok(self)
    }

    /// The query's `key=value` pairs, as written (a key without `=` has an empty value).
    pub fn query_pairs(&self) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').unwrap_or((p, "")))
    }
}

/// `host:port`, `[v6]:port`, `host`: the host and the port text, if any.
fn split_host_port(hostport: &str) -> Result<(&str, Option<&str>), String> {
    if hostport.starts_with('[') {
        let Some(end) = hostport.find(']') else {
            return Err(format!("the IPv6 address `{hostport}` has no closing `]`"));
        };
        let (host, after) = hostport.split_at(end + 1);
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => {
                    Err(format!("`{after}` follows the IPv6 address `{host}`; expected `:port`"))
                }
            },
        };
    }
    Ok(match hostport.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (hostport, None),
    })
}

/// `url` with the password of its user part replaced by `***`, for messages; a
/// `key=value` connection string (libpq's form) gets its `password=` value replaced.
///
/// ```
/// assert_eq!(pool_core::redact("redis://u:secret@h:1/0"), "redis://u:***@h:1/0");
/// assert_eq!(pool_core::redact("host=h password=secret"), "host=h password=***");
/// ```
pub fn redact(url: &str) -> String {
    if !url.contains("://") && url.contains("password=") {
        return url
            .split(' ')
            .map(|pair| if pair.starts_with("password=") { "password=***" } else { pair })
            .collect::<Vec<_>>()
            .join(" ");
    }
    let Some(start) = url.find("//").map(|i| i + 2) else { return url.to_owned() };
    let authority_len = url[start..].find(['/', '?', '#']).unwrap_or(url.len() - start);
    let authority = &url[start..start + authority_len];
    let Some(at) = authority.rfind('@') else { return url.to_owned() };
    let Some(colon) = authority[..at].find(':') else { return url.to_owned() };
    format!("{}***{}", &url[..start + colon + 1], &url[start + at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_only_the_password() {
        assert_eq!(redact("redis://u:secret@h:1/0"), "redis://u:***@h:1/0");
        assert_eq!(redact("redis://:secret@h/0"), "redis://:***@h/0");
        assert_eq!(redact("mysql://root@h:3306/db"), "mysql://root@h:3306/db");
        assert_eq!(redact("mysql://h/db?user=a:b@c"), "mysql://h/db?user=a:b@c");
        assert_eq!(redact("not a url"), "not a url");
    }

    #[test]
    fn names_the_wrong_part() {
        let err = |url| UrlParts::parse(url, &["redis", "rediss"]).unwrap_err();
        assert_eq!(err("http://h/"), "the scheme `http` is not one of `redis`, `rediss`");
        assert_eq!(
            err("127.0.0.1:6379"),
            "it does not start with a scheme (expected one of `redis`, `rediss`, as in `redis://`)"
        );
        assert_eq!(err("redis:/h"), "`redis:` is not followed by `//`");
        assert_eq!(err("redis://h:70000/"), "the port `70000` is out of range (0 to 65535)");
        assert_eq!(err("redis://h:-1/"), "the port `-1` is not a number");
        assert_eq!(
            err("redis://my host/"),
            "the host `my host` holds ' ', which no host name holds"
        );
        assert_eq!(err("redis://[::1/"), "the IPv6 address `[::1` has no closing `]`");
    }

    #[test]
    fn takes_a_url_apart() {
        let p = UrlParts::parse("REDIS://:pw@[::1]:6380/3?protocol=resp3&x", &["redis"]).unwrap();
        assert_eq!((p.scheme, p.user, p.password, p.host), ("REDIS", "", Some("pw"), "[::1]"));
        assert_eq!((p.port, p.path), (Some(6380), "/3"));
        assert_eq!(p.query_pairs().collect::<Vec<_>>(), [("protocol", "resp3"), ("x", "")]);
        let unix = UrlParts::parse("redis+unix:///run/redis.sock?db=1", &["redis+unix"]).unwrap();
        assert_eq!((unix.host, unix.port, unix.path), ("", None, "/run/redis.sock"));
    }
}
