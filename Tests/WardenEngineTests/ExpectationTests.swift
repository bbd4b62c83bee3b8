import Testing
import WardenPluginKit
@testable import WardenEngine

@Suite("expect conditions")
struct ExpectationTests {
    let result = PluginResult(
        success: true,
        data: [
            "status_code": 200, "response_time": 0.25, "state": "warning", "items": [1, 2, 3],
            "pods": [["name": "a", "ready": true], ["name": "b", "ready": false]], "body": "all good",
        ],
        message: "ok"
    )

    func holds(_ text: String) throws -> Bool {
        try WardenEngine.Expectation(text).evaluate(result).passed
    }

    @Test(arguments: [
        ("data.status_code == 200", true),
        ("data.status_code == 200.0", true),
        ("data.status_code != 200", false),
        ("data.response_time < 0.5", true),
        ("data.response_time >= 0.5", false),
        (#"data.state in ["ok", "warning"]"#, true),
        (#"data.state in ["ok"]"#, false),
        (#""good" in data.body"#, true),
        ("len(data.items) > 0", true),
        ("len(data.items) == 3 and data.items[0] == 1 and data.items[-1] == 3", true),
        ("has(data.error) == false", true),
        ("has(data.status_code)", true),
        ("not has(data.missing)", true),
        (#"data.pods[1].ready == false and data.pods[0]["name"] == "a""#, true),
        ("data.missing.deeper == null", true),
        ("data.missing > 3", false),
        ("success and not retry", true),
        (#"message == "ok" or data.status_code == 500"#, true),
        ("(data.status_code == 500 or data.status_code == 200) and success", true),
        (#"data.status_code < "300""#, false),
    ])
    func evaluates(text: String, expected: Bool) throws {
        #expect(try holds(text) == expected, "\(text)")
    }

    @Test func theLeftValueIsReportedForExplanations() throws {
        let outcome = try WardenEngine.Expectation("data.status_code == 503").evaluate(result)
        #expect(!outcome.passed && outcome.value == 200)
    }

    @Test(arguments: [
        ("", 0, "empty condition"),
        ("data.status_code = 200", 17, "use `==`"),
        ("data.status_code ==", 19, "expected a value"),
        ("status_code == 200", 0, "unknown name `status_code`"),
        ("dta.x == 1", 0, "did you mean `data`?"),
        ("len(data.items > 0", 18, "expected `)`"),
        (#"data.x == "open"#, 10, "unterminated string"),
        ("data.x == 1 2", 12, "unexpected number"),
        ("has(1)", 4, "has() takes a path"),
    ])
    func parseErrorsSayWhereAndWhat(text: String, offset: Int, message: String) {
        #expect {
            _ = try WardenEngine.Expectation(text)
        } throws: { error in
            guard let error = error as? WardenEngine.Expectation.ParseError else { return false }
            return error.offset == offset && error.message.contains(message)
        }
    }
}
