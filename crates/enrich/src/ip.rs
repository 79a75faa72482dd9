//! Country, city, coordinates and ASN of an address, from MaxMind DB files, and whether it
//! is one of AWS's ([`crate::aws_ranges`]).
//!
//! The files are read into memory at start (the workspace forbids `unsafe`, which a memory
//! map needs; a GeoLite2 City file is ~60 MB, an ASN file ~10 MB). A lookup walks the
//! file's search tree and decodes only the field asked for. Field names of the common
//! publishers are all understood: MaxMind's and DB-IP's (`country.iso_code`,
//! `city.names.en`, `location.latitude`, `autonomous_system_number`,
//! `autonomous_system_organization`) and IPinfo Lite's and ip-location-db's
//! (`country_code`, `city`, `latitude`, `asn` as `AS15169`, `as_name`).

use std::net::IpAddr;
use std::path::Path;

use maxminddb::{PathElement, Reader};
use serde::Deserialize;

use crate::aws_ranges::{AwsRange, AwsRanges};
use crate::{EnrichError, Result};

/// Where an address is.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Geo<'a> {
    /// ISO 3166-1 alpha-2.
    pub country: Option<&'a str>,
    /// In English.
    pub city: Option<&'a str>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// The autonomous system an address belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asn<'a> {
    pub number: u32,
    pub organization: Option<&'a str>,
}

/// What a rule's test says about one address (instead of files): `{ country = "RO",
/// latitude = 44.4, longitude = 26.1, asn = 9009, asn_org = "M247 Europe SRL",
/// aws_service = "EC2", aws_region = "us-east-1" }`, every field optional.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Fixed {
    pub country: Option<String>,
    pub city: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub asn: Option<u32>,
    pub asn_org: Option<String>,
    pub aws_service: Option<String>,
    pub aws_region: Option<String>,
}

/// The address lookups this process can do (each part absent without its file).
#[derive(Default)]
pub struct IpIntel {
    city: Option<Reader<Vec<u8>>>,
    asn: Option<Reader<Vec<u8>>>,
    pub aws: Option<AwsRanges>,
    /// Addresses given outright (a rule's test): consulted instead of the files.
    fixed: std::collections::BTreeMap<String, Fixed>,
}

impl std::fmt::Debug for IpIntel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpIntel")
            .field("city", &self.city.as_ref().map(|r| r.metadata().database_type.clone()))
            .field("asn", &self.asn.as_ref().map(|r| r.metadata().database_type.clone()))
            .field("aws", &self.aws.as_ref().map(AwsRanges::len))
            .field("fixed", &self.fixed.len())
            .finish()
    }
}

fn open(path: &Path, what: &'static str) -> Result<Reader<Vec<u8>>> {
    if !path.is_file() {
        return Err(EnrichError::File { path: path.to_path_buf(), what: "no such file".into() });
    }
    Reader::open_readfile(path).map_err(|e| EnrichError::Database {
        path: path.to_path_buf(),
        what,
        cause: e.to_string(),
    })
}

/// One value of a record that publishers write as a number or as text (`"AS15169"`).
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrText<'a> {
    Number(u64),
    Text(&'a str),
}

impl IpIntel {
    /// The city (or country) database and the ASN database, each optional.
    pub fn open(city: Option<&Path>, asn: Option<&Path>) -> Result<IpIntel> {
        Ok(IpIntel {
            city: city.map(|p| open(p, "city")).transpose()?,
            asn: asn.map(|p| open(p, "ASN")).transpose()?,
            aws: None,
            fixed: Default::default(),
        })
    }

    /// Lookups that answer from `fixed` alone: a place, network and AWS range for each
    /// address given; every other public address is nowhere known and outside AWS.
    pub fn fixed(fixed: std::collections::BTreeMap<String, Fixed>) -> IpIntel {
        IpIntel { fixed, ..Default::default() }
    }

    pub fn has_city(&self) -> bool {
        self.city.is_some() || self.fixed.values().any(|f| f.country.is_some() || f.latitude.is_some())
    }

    pub fn has_asn(&self) -> bool {
        self.asn.is_some() || self.fixed.values().any(|f| f.asn.is_some())
    }

    pub fn has_aws(&self) -> bool {
        self.aws.is_some() || !self.fixed.is_empty()
    }

    /// Where `ip` is; `None` without a city file, for an address that is not public (private,
    /// loopback, link-local, shared, multicast) or not an address at all (a service's
    /// name), and for one the file does not know.
    pub fn geo(&self, ip: &str) -> Option<Geo<'_>> {
        if !self.fixed.is_empty() {
            let f = self.fixed.get(ip.trim())?;
            let g = Geo {
                country: f.country.as_deref(),
                city: f.city.as_deref(),
                latitude: f.latitude,
                longitude: f.longitude,
            };
            return (g != Geo::default()).then_some(g);
        }
        let reader = self.city.as_ref()?;
        let found = reader.lookup(public(ip)?).ok()?;
        if !found.has_data() {
            return None;
        }
        let text =
            |paths: &[&[PathElement<'_>]]| paths.iter().find_map(|p| found.decode_path::<&str>(p).ok().flatten());
        let number =
            |paths: &[&[PathElement<'_>]]| paths.iter().find_map(|p| found.decode_path::<f64>(p).ok().flatten());
        use PathElement::Key;
        let geo = Geo {
            country: text(&[&[Key("country"), Key("iso_code")], &[Key("country_code")], &[Key("country")]]),
            city: text(&[&[Key("city"), Key("names"), Key("en")], &[Key("city")]]),
            latitude: number(&[&[Key("location"), Key("latitude")], &[Key("latitude")]]),
            longitude: number(&[&[Key("location"), Key("longitude")], &[Key("longitude")]]),
        };
        (geo != Geo::default()).then_some(geo)
    }

    /// The ASN of `ip` (as [`IpIntel::geo`] for what has none).
    pub fn asn(&self, ip: &str) -> Option<Asn<'_>> {
        if !self.fixed.is_empty() {
            let f = self.fixed.get(ip.trim())?;
            return Some(Asn { number: f.asn?, organization: f.asn_org.as_deref() });
        }
        let reader = self.asn.as_ref()?;
        let found = reader.lookup(public(ip)?).ok()?;
        if !found.has_data() {
            return None;
        }
        use PathElement::Key;
        let number = [&[Key("autonomous_system_number")][..], &[Key("asn")]].iter().find_map(|p| {
            match found.decode_path::<NumberOrText<'_>>(p).ok().flatten()? {
                NumberOrText::Number(n) => u32::try_from(n).ok(),
                NumberOrText::Text(t) => t.trim_start_matches("AS").trim_start_matches("as").parse().ok(),
            }
        })?;
        let organization = [&[Key("autonomous_system_organization")][..], &[Key("as_name")], &[Key("organization")]]
            .iter()
            .find_map(|p| found.decode_path::<&str>(p).ok().flatten());
        Some(Asn { number, organization })
    }

    /// The AWS range `ip` is in (the most specific service's), `None` outside AWS's
    /// published ranges or without them.
    pub fn aws(&self, ip: &str) -> Option<AwsRange<'_>> {
        if !self.fixed.is_empty() {
            let f = self.fixed.get(ip.trim())?;
            return Some(AwsRange {
                service: f.aws_service.as_deref()?,
                region: f.aws_region.as_deref().unwrap_or("GLOBAL"),
            });
        }
        self.aws.as_ref()?.lookup(public(ip)?)
    }

    /// Whether `ip` is in AWS's ranges: `None` without them or for what is not a public
    /// address.
    pub fn is_aws(&self, ip: &str) -> Option<bool> {
        if !self.fixed.is_empty() {
            public(ip)?;
            return Some(self.aws(ip).is_some());
        }
        let ranges = self.aws.as_ref()?;
        Some(ranges.lookup(public(ip)?).is_some())
    }
}

/// `ip` as a public address: `None` for text that is not an address (`AWS Internal`,
/// `ec2.amazonaws.com`) and for private, loopback, link-local, shared (100.64/10),
/// multicast, unspecified and IPv6 unique-local addresses.
pub fn public(ip: &str) -> Option<IpAddr> {
    let addr: IpAddr = ip.trim().parse().ok()?;
    let public = match addr {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if let Some(v4) = v6.to_ipv4_mapped() {
                return public(&v4.to_string());
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    };
    public.then_some(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_reserved_and_named_sources_are_not_looked_up() {
        for not in ["10.1.2.3", "172.16.0.1", "192.168.1.1", "127.0.0.1", "169.254.169.254", "100.64.0.1", "0.0.0.0"] {
            assert_eq!(public(not), None, "{not}");
        }
        for not in ["::1", "fd00::1", "fe80::1", "AWS Internal", "ec2.amazonaws.com", ""] {
            assert_eq!(public(not), None, "{not}");
        }
        assert!(public("8.8.8.8").is_some());
        assert!(public("2600:1f18::1").is_some());
        assert_eq!(public("::ffff:10.0.0.1"), None, "a mapped private address is private");
    }
}
