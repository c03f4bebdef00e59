use crate::fixture::{args, client, testbed_network};

#[test]
fn an_endless_loop_is_stopped_by_fuel_and_the_node_goes_on() {
    let n = testbed_network("OR('org1.member')");
    let c = client(&n.net, "org1");
    let err = c.invoke(&n.net, "testbed", "spin", vec![], &[]).expect_err("must stop");
    assert!(err.to_string().to_lowercase().contains("fuel"), "{err}");
    let err = c.query(&n.net, "testbed", "spin", vec![]).expect_err("must stop");
    assert!(err.to_string().to_lowercase().contains("fuel"), "{err}");
    c.invoke(&n.net, "testbed", "put", args(&["after", "ok"]), &[]).expect("node still works");
    let r = c.query(&n.net, "testbed", "get", args(&["after"])).expect("get");
    let value: Option<Vec<u8>> =
        teechain_types::codec::decode(&r.payload, teechain_types::codec::Limits::RECORD).expect("decode");
    assert_eq!(value.as_deref(), Some(&b"ok"[..]));
}

#[test]
fn a_memory_bomb_ends_with_a_memory_error_and_the_node_goes_on() {
    let n = testbed_network("OR('org1.member')");
    let c = client(&n.net, "org1");
    let err = c.invoke(&n.net, "testbed", "grow", vec![], &[]).expect_err("must stop");
    assert!(err.to_string().to_lowercase().contains("memory"), "{err}");
    c.invoke(&n.net, "testbed", "put", args(&["after", "ok"]), &[]).expect("node still works");
}

#[test]
fn deep_recursion_ends_with_an_error() {
    let n = testbed_network("OR('org1.member')");
    let c = client(&n.net, "org1");
    assert!(c.invoke(&n.net, "testbed", "recurse", vec![], &[]).is_err());
    c.invoke(&n.net, "testbed", "put", args(&["after", "ok"]), &[]).expect("node still works");
}
