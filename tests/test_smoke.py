def test_start_page_lists_upcoming_sessions(client, make_training_session):
    make_training_session(days_ahead=30, capacity=10)
    response = client.get("/")
    assert response.status_code == 200
    assert "Upcoming sessions" in response.text
    assert "10 places left" in response.text


def test_health_check_answers_and_the_migrated_database_is_ready(client):
    assert client.get("/healthz").json == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready", "database": "ok", "migrations": "ok"}
