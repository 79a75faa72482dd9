//! IP helpers: `cidr_match(ip, cidr)` and `is_private_ip(ip)`. CloudTrail's
//! `sourceipaddress` also holds service names (`AWS Internal`, `ec2.amazonaws.com`): those
//! are simply not IPs, so both functions answer false for them rather than failing.

use std::net::IpAddr;
use std::sync::Arc;

use arrow::array::BooleanBuilder;
use arrow::datatypes::DataType;
use datafusion::common::exec_err;
use datafusion::logical_expr::ScalarUDF;

use super::{Udf, strings};

pub fn cidr_match() -> ScalarUDF {
    Udf::strings("cidr_match", 2, DataType::Boolean, |args| {
        let mut out = BooleanBuilder::with_capacity(args[0].len());
        let mut cached: Option<(String, Cidr)> = None;
        for (ip, cidr) in strings(&args[0])?.zip(strings(&args[1])?) {
            let (Some(ip), Some(cidr)) = (ip, cidr) else {
                out.append_null();
                continue;
            };
            if cached.as_ref().is_none_or(|(text, _)| text != cidr) {
                let Some(parsed) = Cidr::parse(cidr) else {
                    return exec_err!(
                        "cidr_match: {cidr:?} is not a CIDR block (e.g. '10.0.0.0/8' or '2001:db8::/32')"
                    );
                };
                cached = Some((cidr.to_owned(), parsed));
            }
            let net = &cached.as_ref().expect("just set").1;
            out.append_value(parse_ip(ip).is_some_and(|ip| net.contains(ip)));
        }
        Ok(Arc::new(out.finish()))
    })
}

pub fn is_private_ip() -> ScalarUDF {
    Udf::strings("is_private_ip", 1, DataType::Boolean, |args| {
        let mut out = BooleanBuilder::with_capacity(args[0].len());
        for ip in strings(&args[0])? {
            out.append_option(ip.map(|ip| parse_ip(ip).is_some_and(is_private)));
        }
        Ok(Arc::new(out.finish()))
    })
}

/// `ip_class(sourceipaddress)`: [`lake::rollup::ip_class`], the class the hourly rollup
/// keeps (`aws`, `private`, `public`, `other`, `none`).
pub fn ip_class() -> ScalarUDF {
    Udf::strings("ip_class", 1, DataType::Utf8, |args| {
        let mut out = arrow::array::StringBuilder::with_capacity(args[0].len(), args[0].len() * 6);
        for ip in strings(&args[0])? {
            out.append_value(lake::rollup::ip_class(ip));
        }
        Ok(Arc::new(out.finish()))
    })
}

pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    // Bracketed IPv6 ("[::1]") shows up in some logs.
    let s = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')).unwrap_or(s);
    let ip: IpAddr = s.parse().ok()?;
    // An IPv4-mapped IPv6 address is matched as the IPv4 address it carries.
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    })
}

fn is_private(ip: IpAddr) -> bool {
    const RANGES: &[&str] = &[
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    ];
    RANGES.iter().filter_map(|r| Cidr::parse(r)).any(|c| c.contains(ip))
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Cidr {
    net: u128,
    mask: u128,
    v4: bool,
}

impl Cidr {
    /// `a.b.c.d/n`, `x::/n`, or a bare address (a /32 or /128).
    pub(crate) fn parse(s: &str) -> Option<Cidr> {
        let (addr, len) = match s.trim().split_once('/') {
            Some((a, l)) => (a, Some(l.parse::<u32>().ok()?)),
            None => (s.trim(), None),
        };
        let ip: IpAddr = addr.parse().ok()?;
        let (bits, width, v4) = match ip {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32, true),
            IpAddr::V6(v6) => (u128::from(v6), 128, false),
        };
        let len = len.unwrap_or(width);
        if len > width {
            return None;
        }
        let mask = if len == 0 { 0 } else { (!0u128 << (width - len)) & (!0u128 >> (128 - width)) };
        Some(Cidr { net: bits & mask, mask, v4 })
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) if self.v4 => u128::from(u32::from(a)) & self.mask == self.net,
            IpAddr::V6(a) if !self.v4 => u128::from(a) & self.mask == self.net,
            _ => false,
        }
    }
}
