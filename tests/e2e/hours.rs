//! Hour banks end to end: time logged by the agent's replies fills a GROWTH client's 10 hours;
//! the SOP's 75% and 100% emails each reach the client once; `hours --json` shows the overage.

use super::desk::{body, header, TestDesk, AGENT, SUPPORT};
use super::lab::MailLab;

async fn agent_logs(lab: &MailLab, reply_address: &str, parent: &str, text: &str, id: &str) {
    lab.send(
        AGENT,
        reply_address,
        &format!("From: Travis <{AGENT}>\nTo: {reply_address}\nSubject: Re: x\nMessage-ID: <{id}>\nIn-Reply-To: {parent}\n\n{text}\n"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_75_and_100_percent_emails_arrive_once_and_the_overage_is_billed() {
    let lab = MailLab::start();
    let desk = TestDesk::new(&lab);
    lab.send(
        "jane@acme.test",
        SUPPORT,
        "From: Jane Roe <jane@acme.test>\nTo: support@example.test\nSubject: Rebuild the lead router\nMessage-ID: <h1@acme.test>\n\nPlease rework the routing rules.\n",
    )
    .await;
    lab.wait_for_support_mail(1).await;
    desk.run_once();
    let notification = lab.wait_for_mails(AGENT, 1).await.remove(0);
    let reply_address = header(&notification, "Reply-To").unwrap();
    let parent = header(&notification, "Message-ID").unwrap();

    agent_logs(&lab, &reply_address, &parent, "Reworked the first half of the rules.\n#time 7h30m", "r1@example.test")
        .await;
    lab.wait_for_support_mail(2).await;
    desk.run_once();
    desk.drain(&lab).await;
    let subjects = |mails: &[Vec<u8>]| mails.iter().filter_map(|m| header(m, "Subject")).collect::<Vec<_>>();
    let client_mail = lab.mails_received_by("jane@acme.test").await;
    let updates: Vec<_> = subjects(&client_mail).into_iter().filter(|s| s.contains("Support Hours Update")).collect();
    assert_eq!(updates, vec!["Acme - Support Hours Update".to_string()], "{:?}", subjects(&client_mail));
    let update = client_mail.iter().find(|m| header(m, "Subject").unwrap().contains("Hours Update")).unwrap();
    let text = body(update);
    assert!(text.contains("we've used 7.5 of your 10 monthly support hours"), "{text}");
    assert!(text.contains("Remaining: 2.5 hours"), "{text}");
    assert!(header(update, "Cc").unwrap_or_default().contains(AGENT), "the agent is copied");

    agent_logs(&lab, &reply_address, &parent, "Tested the new rules.\n#time 1h", "r2@example.test").await;
    lab.wait_for_support_mail(3).await;
    desk.run_once();
    agent_logs(&lab, &reply_address, &parent, "Deployed and monitored.\n#time 2h", "r3@example.test").await;
    lab.wait_for_support_mail(4).await;
    desk.run_once();
    agent_logs(&lab, &reply_address, &parent, "Small follow-up.\n#time 15m", "r4@example.test").await;
    lab.wait_for_support_mail(5).await;
    desk.run_once();

    desk.drain(&lab).await;
    let client_mail = lab.mails_received_by("jane@acme.test").await;
    let all = subjects(&client_mail);
    assert_eq!(all.iter().filter(|s| s.contains("Support Hours Update")).count(), 1, "{all:?}");
    assert_eq!(all.iter().filter(|s| s.contains("Support Hours Depleted")).count(), 1, "{all:?}");
    let depleted = client_mail.iter().find(|m| header(m, "Subject").unwrap().contains("Depleted")).unwrap();
    let text = body(depleted);
    assert!(text.contains("We've used all 10 of your monthly support hours"), "{text}");
    assert!(text.contains("$150/hour") && text.contains("ENTERPRISE"), "{text}");

    let output = desk.helpdesk(&["hours", "--client", "Acme", "--json"]);
    let banks: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let statement = &banks[0]["statement"];
    assert_eq!(statement["available_minutes"], 600);
    assert_eq!(statement["included_used_minutes"], 600);
    assert_eq!(statement["overage_minutes"], 45, "7h30 + 1h + 2h + 15m = 10h45m");
    assert_eq!(statement["overage_cents"], 11_250);
    let sheet = banks[0]["sheet"].as_array().unwrap();
    assert_eq!(sheet.len(), 4);
    assert_eq!(sheet[2]["notes"], "Included 1.5h, overage 0.5h", "the entry that straddles 100%");
    assert_eq!(desk.tickets_json("all")[0]["minutes_logged"], 645);
    let csv = String::from_utf8(desk.helpdesk(&["hours", "--client", "Acme", "--csv"]).stdout).unwrap();
    assert!(csv.starts_with("Client,Period,Date,Ticket,Task,Time (h),Running Total (h),Kind,Notes"), "{csv}");
    assert_eq!(csv.lines().count(), 5);
}
