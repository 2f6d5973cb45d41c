def test_start_page_lists_upcoming_sessions(client, make_training_session):
    make_training_session(days_ahead=30, capacity=10)
    response = client.get("/")
    assert response.status_code == 200
    assert "Upcoming sessions" in response.text
    assert "10 places left" in response.text


def test_health_check_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}
