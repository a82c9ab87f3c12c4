from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('cloudtasks', '0005_record_retention'),
    ]

    operations = [
        # A task cancelled before it started (cloudtasks.operations.cancel).
        migrations.AddField(
            model_name='taskrecord',
            name='cancelled_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
